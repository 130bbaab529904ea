"""netplumb's component provider: hosts the components of :mod:`netplumb.components.hosted`.

The engine starts this with the address of its gRPC endpoint; the provider infers its
schema from the hosted classes (``pulumi package get-schema <this dir>`` prints it).
"""

from pulumi.provider.experimental import component_provider_host

from netplumb.components import hosted

if __name__ == "__main__":
    component_provider_host(hosted.COMPONENTS, name=hosted.PACKAGE, version=hosted.VERSION)
