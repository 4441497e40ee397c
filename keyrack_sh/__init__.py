"""keyrack: AWS IAM Identity Center credentials for every shell and SDK.

Importing this package must stay cheap: no boto3, botocore, jinja2,
configupdater or filelock at module load (a test enforces it).
"""
from __future__ import annotations

__version__ = "0.1.0"
