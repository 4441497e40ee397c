"""Which AWS partition a region belongs to: `aws`, `aws-cn`, `aws-us-gov`, ...

The partition is the second word of every ARN (`arn:aws-cn:sts::...`) and picks
the console and sign-in hosts. botocore knows it (`botocore/data/partitions.json`,
a region regex per partition), but importing botocore, or even reading that
file, costs tens of milliseconds; the rule is a prefix, so it lives here as
data, and tests/partitions_test.py checks it against botocore's file for every
region botocore knows. Builtins only: anything may import this.
"""
from __future__ import annotations

COMMERCIAL = "aws"
CHINA = "aws-cn"
GOVCLOUD = "aws-us-gov"

# Longest prefix first: us-isob- before us-iso-.
_PREFIXES: tuple[tuple[str, str], ...] = (
    ("cn-", CHINA),
    ("us-gov-", GOVCLOUD),
    ("us-isob-", "aws-iso-b"),
    ("us-isof-", "aws-iso-f"),
    ("us-iso-", "aws-iso"),
    ("eu-isoe-", "aws-iso-e"),
    ("eusc-", "aws-eusc"),
)


def of_region(region: str | None) -> str:
    """The partition of `region`; no region is the commercial partition (as botocore defaults)."""
    if region:
        for prefix, partition in _PREFIXES:
            if region.startswith(prefix):
                return partition
    return COMMERCIAL


def arn_prefix(region: str | None) -> str:
    """`arn:<partition>:` for ARNs of the accounts an IAM Identity Center in `region` signs in to."""
    return f"arn:{of_region(region)}:"
