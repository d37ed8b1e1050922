"""An S3 endpoint for the state backend tier: moto in server mode, and a fault-injecting proxy before it."""

from tests.s3_emulator.emulator import BUCKET, PREFIX, REGION, Identity, S3Emulator, backend_url, readme_policy
from tests.s3_emulator.proxy import FaultProxy

__all__ = ["BUCKET", "PREFIX", "REGION", "FaultProxy", "Identity", "S3Emulator", "backend_url", "readme_policy"]
