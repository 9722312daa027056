"""Tests of the foundation: stack config, rules, the AWS layer planned offline, the engine and the CLI."""
