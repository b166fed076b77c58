"""AWS Step Functions target."""
