# pgvip developer entry points. Every target does its own set-up on a fresh machine (root needed:
# apt packages, network namespaces).

CARGO ?= cargo

.PHONY: setup test demo crds lint clean-testbed

## Install system packages and build the testbed's Go binaries (cached; no-op when warm).
setup:
	bash .ci/setup

## Run the whole test suite: unit tests, netns tests, testbed smoke and end-to-end suites.
test: setup
	$(CARGO) test --workspace
	# The core failover scenarios again, in Patroni's Endpoints mode and with Patroni 3.0.2.
	PGVIP_USE_ENDPOINTS=1 PGVIP_E2E_ONLY=switchover,kill $(CARGO) test -p pgvip-e2e --test failover
	PGVIP_PATRONI=3 PGVIP_E2E_ONLY=switchover,kill $(CARGO) test -p pgvip-e2e --test failover
	# The EKS-like flavour: the simulator's EC2 front, the AWS provider signing with IRSA
	# credentials (a service-account token exchanged at the simulator's STS), throttling and a
	# controller killed mid-move, and the negative control; then EKS Pod Identity (the
	# simulator's container credentials agent). The instance profile (IMDSv2) is proven by
	# PGVIP_AWS_CREDENTIALS=instance-profile, as docs/iam-aws.md says.
	PGVIP_TESTBED_CLOUD=aws PGVIP_AWS_CREDENTIALS=irsa PGVIP_E2E_ONLY=switchover,kill,cloud-faults,controller-crash,negative $(CARGO) test -p pgvip-e2e --test failover
	PGVIP_TESTBED_CLOUD=aws PGVIP_AWS_CREDENTIALS=pod-identity PGVIP_E2E_ONLY=switchover $(CARGO) test -p pgvip-e2e --test failover
	# Bare metal: a plain bridge, --cloud-provider l2; a partitioned primary and every agent cut
	# from the apiserver (never two holders), IPv4 + IPv6 VIPs, and the announcement's negative
	# control.
	PGVIP_TESTBED_CLOUD=l2 PGVIP_E2E_ONLY=switchover,partition,agents-cut,dual-stack,negative $(CARGO) test -p pgvip-e2e --test failover

## Local demo of a real failover on the testbed.
demo: setup
	$(CARGO) run -q -p pgvip-e2e --bin demo

## Regenerate the CRD YAML from the Rust types.
crds:
	$(CARGO) run -q -p pgvip-api --bin crdgen -- --write

## Formatting, lints and the CRD drift check, as CI runs them.
lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) run -q -p pgvip-api --bin crdgen -- --check

## Tear down a testbed left by a killed run.
clean-testbed:
	$(CARGO) run -q -p pgvip-e2e --bin testbed -- down
