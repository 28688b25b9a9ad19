"""Starts moto's server mode, optionally with EC2's documented semantics where moto 5.1 lacks them.

Usage: python moto_aws_semantics.py [--aws-semantics] -H 127.0.0.1 -p PORT

Without --aws-semantics this is plain `moto_server`. With it, three behaviours that moto does not
implement are patched in, each as the EC2 API reference documents it; everything else (the Query
protocol, XML shapes, error documents, the other filters, ids) stays moto's own:

1. DescribeNetworkInterfaces filter `addresses.private-ip-address` matches any private IPv4
   address of an interface ("The private IPv4 addresses associated with the network interface");
   moto matches the primary address only.
2. AssignPrivateIpAddresses with AllowReassignment=true moves an address that another interface
   holds ("Indicates whether to allow an IP address that is already assigned to another network
   interface or instance to be reassigned to the specified network interface"); moto leaves it on
   both interfaces.
3. AssignPrivateIpAddresses and UnassignPrivateIpAddresses have no DryRun parameter (neither the
   API reference nor AWS's service model lists one), and EC2 answers a parameter it does not know
   with 400 `UnknownParameter` ("The parameter DryRun is not recognized") without acting; moto
   ignores the parameter and performs the action.

The Rust test `moto_deviations_are_still_there` runs plain moto and fails once moto fixes one of
these, so that the patch can be dropped.
"""

import sys


def patch() -> None:
    from moto.ec2.exceptions import EC2ClientError
    from moto.ec2.models.elastic_network_interfaces import NetworkInterface
    from moto.ec2.responses.elastic_network_interfaces import ElasticNetworkInterfaces

    original_filter = NetworkInterface.get_filter_value

    def get_filter_value(self, filter_name, method_name=None):
        if filter_name == "addresses.private-ip-address":
            return [a.get("PrivateIpAddress") for a in self.private_ip_addresses]
        return original_filter(self, filter_name, method_name)

    NetworkInterface.get_filter_value = get_filter_value

    original_assign = ElasticNetworkInterfaces.assign_private_ip_addresses
    original_unassign = ElasticNetworkInterfaces.unassign_private_ip_addresses

    def reject_dry_run(self):
        if "DryRun" in (self.querystring or {}):
            raise EC2ClientError("UnknownParameter", "The parameter DryRun is not recognized")

    def assign(self):
        reject_dry_run(self)
        if str(self._get_param("AllowReassignment", "false")).lower() == "true":
            target = self.ec2_backend.get_network_interface(self._get_param("NetworkInterfaceId"))
            wanted = set(self._get_param("PrivateIpAddresses", []))
            for eni in self.ec2_backend.enis.values():
                if eni is target or eni.subnet.id != target.subnet.id:
                    continue
                eni.private_ip_addresses = [
                    a
                    for a in eni.private_ip_addresses
                    if a.get("Primary") or a.get("PrivateIpAddress") not in wanted
                ]
        return original_assign(self)

    def unassign(self):
        reject_dry_run(self)
        return original_unassign(self)

    ElasticNetworkInterfaces.assign_private_ip_addresses = assign
    ElasticNetworkInterfaces.unassign_private_ip_addresses = unassign


def main() -> None:
    argv = sys.argv[1:]
    if "--aws-semantics" in argv:
        argv.remove("--aws-semantics")
        patch()
    from moto.server import main as moto_main

    moto_main(argv)


if __name__ == "__main__":
    main()
