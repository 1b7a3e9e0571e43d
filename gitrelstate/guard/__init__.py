"""Guards against hostile input (docs/reliability.md, threat model): what a repository, a
remote or a pull request carries is escaped before it is shown, redacted before it is
written, bounded before it is read, and never executed."""
