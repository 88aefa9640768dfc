"""`python -m infra.preflight ENV`: what the stack of ENV would hold, checked without Pulumi.

The first step of `make plan` / `make deploy-infra`, so that a machine without the Pulumi CLI
still learns whether hardware/ is right. Needs only Marsad itself (no Pulumi SDK).
Exit: 0 fine, 1 problems in the hardware file, 4 no such environment.
"""
from __future__ import annotations

import sys

from services import hardware


def blocking_problems(env: hardware.Environment) -> list:
    """`marsad hardware check` problems, less "not deployable yet": infra/ may plan any profile."""
    return [p for p in hardware.check(env) if env.profile.deployable or p.path != "profile"]


def summary(env: hardware.Environment) -> str:
    verb = "create as Proxmox VMs" if env.kind == "proxmox" else "register (they exist already)"
    lines = [f"{env.name}: profile {env.profile.name}, {len(env.servers)} server(s) to {verb}:"]
    for s in env.servers:
        disks = ", ".join(f"{d.purpose} {d.size_gb:g} GB" for d in s.disks)
        lines.append(f"  {s.name} {s.address}: {s.cpu} CPU, {s.ram_gb:g} GB RAM, {disks}; {', '.join(s.roles)}")
    bare = [s.name for s in env.servers if not s.disk_gb("backup")]
    if bare:
        lines.append(f"  no backup disk on {', '.join(bare)}: the guardrail machine-has-backup-disk "
                     "(infra/policy) will refuse the stack until hardware/ declares one")
    if not env.profile.deployable:
        lines.append(f"  (profile {env.profile.name} is planned only: the playbooks do not deploy it yet)")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m infra.preflight ENV", file=sys.stderr)
        return 2
    try:
        env = hardware.load_environment(argv[0])
    except hardware.HardwareError as err:
        print(err, file=sys.stderr)
        return 4 if any(p.message.startswith(("no environment", "no such file")) for p in err.problems) else 1
    problems = blocking_problems(env)
    if problems:
        print("\n".join(map(str, problems)), file=sys.stderr)
        print(f"{len(problems)} problem(s) in {env.display_file}", file=sys.stderr)
        return 1
    print(summary(env))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
