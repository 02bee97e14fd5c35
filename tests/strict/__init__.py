"""A test layer as strict as AWS: every request the suite sends is checked against the
botocore service model's constraints botocore does not enforce, and against the limits AWS
documents that the models lack (tests/strict/limits.py); every EMF document against
CloudWatch's rules. See the `strict_aws` fixture in tests/conftest.py.
"""
