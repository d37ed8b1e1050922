"""What a feature costs: prices kept in the repository, an estimate of the resources the program
declares (under Pulumi's mocks, like synth), and the budget that refuses a feature over it."""
