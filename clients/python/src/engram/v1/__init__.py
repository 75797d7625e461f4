"""engram.v1 messages and service stubs, generated from proto/engram/v1 by
`scripts/py-client.sh gen` (grpcio-tools). Do not edit."""
