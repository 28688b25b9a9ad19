//! The testbed's PKI, made with the `openssl` CLI: a CA, the apiserver's serving certificate
//! (valid for loopback, which every namespace reaches through its forwarder), the admin client
//! certificate, and the service-account token signing key.

use std::{fs, path::Path};

use crate::{
    cmd::run,
    error::{Context, Result},
};

/// Creates `dir` with ca.{crt,key}, apiserver.{crt,key}, admin.{crt,key}, sa.{key,pub}.
/// Existing files are kept, so a restart reuses them.
pub fn ensure(dir: &Path) -> Result<()> {
    fs::create_dir_all(dir).ctx(format!("creating {}", dir.display()))?;
    let p = |f: &str| dir.join(f).to_string_lossy().into_owned();
    if !dir.join("ca.crt").exists() {
        ec_key(&p("ca.key"))?;
        run(
            "openssl",
            &[
                "req",
                "-x509",
                "-new",
                "-key",
                &p("ca.key"),
                "-subj",
                "/CN=pgvip-testbed-ca",
                "-days",
                "3650",
                "-out",
                &p("ca.crt"),
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign,digitalSignature",
            ],
        )?;
    }
    leaf(
        dir,
        "apiserver",
        "/CN=kube-apiserver",
        "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,IP:10.96.0.1\nextendedKeyUsage=serverAuth",
    )?;
    leaf(
        dir,
        "admin",
        "/O=system:masters/CN=testbed-admin",
        "extendedKeyUsage=clientAuth",
    )?;
    if !dir.join("sa.key").exists() {
        ec_key(&p("sa.key"))?;
        run(
            "openssl",
            &["ec", "-in", &p("sa.key"), "-pubout", "-out", &p("sa.pub")],
        )?;
    }
    Ok(())
}

fn ec_key(path: &str) -> Result<()> {
    run(
        "openssl",
        &[
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-out",
            path,
        ],
    )
    .map(|_| ())
}

fn leaf(dir: &Path, name: &str, subject: &str, ext: &str) -> Result<()> {
    let p = |f: &str| dir.join(f).to_string_lossy().into_owned();
    if dir.join(format!("{name}.crt")).exists() {
        return Ok(());
    }
    let (key, csr, crt, extf) = (
        p(&format!("{name}.key")),
        p(&format!("{name}.csr")),
        p(&format!("{name}.crt")),
        p(&format!("{name}.ext")),
    );
    ec_key(&key)?;
    fs::write(&extf, format!("{ext}\n")).ctx("writing extension file")?;
    run(
        "openssl",
        &["req", "-new", "-key", &key, "-subj", subject, "-out", &csr],
    )?;
    run(
        "openssl",
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            &p("ca.crt"),
            "-CAkey",
            &p("ca.key"),
            "-CAcreateserial",
            "-days",
            "3650",
            "-out",
            &crt,
            "-extfile",
            &extf,
        ],
    )?;
    Ok(())
}
