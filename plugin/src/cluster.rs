//! The only module that talks to the apiserver: builds a client as kubectl would and fetches
//! PostgresVips as the apiserver has them.
//!
//! Data flow: [`Connection`] flags → [`connect`] (kubeconfig or in-cluster configuration, the
//! context's namespace unless `-n`) → [`list`] / [`get`] return [`DynamicObject`]s (every field,
//! also ones this version does not know, for `-o json|yaml`) → [`typed`] reads one as a
//! [`PostgresVip`] for the renderers.

use kube::{
    api::{ApiResource, DynamicObject, ListParams},
    config::{KubeConfigOptions, Kubeconfig},
    Api, Client, Config,
};
use pgvip_api::PostgresVip;

use crate::{cli::Connection, Error, Result};

/// A client and the namespace commands use when none is named.
pub struct Target {
    /// The client.
    pub client: Client,
    /// `-n`, else the context's namespace, else `default`.
    pub namespace: String,
}

/// Builds the client: `--kubeconfig` (one file) or the KUBECONFIG list / `~/.kube/config`, with
/// `--context` if given; without either flag, falls back to the in-cluster service account.
pub async fn connect(conn: &Connection) -> Result<Target> {
    let opts = KubeConfigOptions {
        context: conn.context.clone(),
        ..KubeConfigOptions::default()
    };
    let config = match (&conn.kubeconfig, &conn.context) {
        (Some(path), _) => {
            let kc = Kubeconfig::read_from(path).map_err(|source| Error::Kubeconfig {
                path: path.clone(),
                source,
            })?;
            Config::from_custom_kubeconfig(kc, &opts)
                .await
                .map_err(|source| Error::Kubeconfig {
                    path: path.clone(),
                    source,
                })?
        }
        (None, Some(_)) => Config::from_kubeconfig(&opts).await?,
        (None, None) => Config::infer().await?,
    };
    let namespace = conn
        .namespace
        .clone()
        .unwrap_or_else(|| config.default_namespace.clone());
    let client = Client::try_from(config).map_err(Error::Client)?;
    Ok(Target { client, namespace })
}

fn resource() -> ApiResource {
    ApiResource::erase::<PostgresVip>(&())
}

/// Every PostgresVip of `namespace`, or of all namespaces when `None`, sorted by namespace and
/// name, `managedFields` dropped (as kubectl shows them).
pub async fn list(client: &Client, namespace: Option<&str>) -> Result<Vec<DynamicObject>> {
    let ar = resource();
    let (api, what) = match namespace {
        Some(ns) => (
            Api::<DynamicObject>::namespaced_with(client.clone(), ns, &ar),
            format!("listing PostgresVips in namespace {ns}"),
        ),
        None => (
            Api::<DynamicObject>::all_with(client.clone(), &ar),
            "listing PostgresVips in all namespaces".to_string(),
        ),
    };
    let list = api
        .list(&ListParams::default())
        .await
        .map_err(|e| match e {
            kube::Error::Api(s) if s.code == 404 => Error::CrdMissing,
            source => Error::Api { what, source },
        })?;
    let mut items: Vec<DynamicObject> = list.items.into_iter().map(normalise).collect();
    items.sort_by(|a, b| {
        (&a.metadata.namespace, &a.metadata.name).cmp(&(&b.metadata.namespace, &b.metadata.name))
    });
    Ok(items)
}

/// PostgresVip `namespace/name`.
pub async fn get(client: &Client, namespace: &str, name: &str) -> Result<DynamicObject> {
    let ar = resource();
    let api = Api::<DynamicObject>::namespaced_with(client.clone(), namespace, &ar);
    match api.get_opt(name).await {
        Ok(Some(o)) => Ok(normalise(o)),
        Ok(None) => Err(not_found_or_no_crd(client, namespace, name).await),
        Err(source) => Err(Error::Api {
            what: format!("getting PostgresVip {namespace}/{name}"),
            source,
        }),
    }
}

/// A 404 on a get means either no such object or no such resource; a list tells them apart.
async fn not_found_or_no_crd(client: &Client, namespace: &str, name: &str) -> Error {
    match list(client, Some(namespace)).await {
        Err(Error::CrdMissing) => Error::CrdMissing,
        _ => Error::NotFound {
            namespace: namespace.to_string(),
            name: name.to_string(),
        },
    }
}

/// Items of a list carry no `apiVersion`/`kind` of their own in every apiserver version; give
/// them one, and drop `managedFields`.
fn normalise(mut o: DynamicObject) -> DynamicObject {
    let ar = resource();
    o.types.get_or_insert_with(|| kube::api::TypeMeta {
        api_version: ar.api_version.clone(),
        kind: ar.kind.clone(),
    });
    o.metadata.managed_fields = None;
    o
}

/// `o` as a PostgresVip.
pub fn typed(o: &DynamicObject) -> Result<PostgresVip> {
    let name = format!(
        "{}/{}",
        o.metadata.namespace.as_deref().unwrap_or(""),
        o.metadata.name.as_deref().unwrap_or("")
    );
    serde_json::to_value(o)
        .and_then(serde_json::from_value)
        .map_err(|source| Error::Decode { name, source })
}
