"""A Pulumi project holding only a feature's Octopus resources (tenant and override)."""
