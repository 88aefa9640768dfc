"""The Pulumi program (README.md in this folder). A package, so that the program, the tests and
`python -m infra.preflight` import it the same way; the policy pack (policy/) stands alone."""
