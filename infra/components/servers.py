"""The `Servers` tier: the machines of an environment, from hardware/.

* lab and bare_metal: the servers exist already (physical, or the lab's containers); each is
  registered as a `BareMetalServer` component whose outputs are its description, so the stack
  records what it deploys onto and the guardrails can check it.
* proxmox: one Proxmox VE virtual machine per server (pulumi_proxmoxve), with exactly the CPUs,
  RAM and disks the hardware file declares (`marsad hardware check` has compared them with the
  profile), a static address and the admin's SSH keys through cloud-init.

Proxmox settings are data in the hardware file (`proxmox:` of the environment, overridden by
`proxmox:` of a server); see PROXMOX_DEFAULTS and PROXMOX_REQUIRED.
"""
from __future__ import annotations

import ipaddress
import math
from typing import Any, Mapping, Sequence

import pulumi
import pulumi_proxmoxve as proxmoxve
import yaml

from services import hardware

TYPE = "marsad:infra:Servers"
BARE_METAL_TYPE = "marsad:infra:BareMetalServer"
PROXMOX_DEFAULTS: Mapping[str, Any] = {
    "datastore": "local-lvm",          # where the VM disks live
    "snippets_datastore": "local",     # a directory datastore with "snippets" content enabled
    "bridge": "vmbr0",
    "prefix_length": 24,
    "cpu_type": "x86-64-v2-AES",       # Proxmox's default: VMs can migrate between unlike nodes
    "guest_agent": True,               # air-gapped without a mirror: false (cloud-init cannot install it)
}
PROXMOX_REQUIRED = ("node", "image", "gateway")  # image: e.g. local:import/debian-13-genericcloud-amd64.qcow2
# The guest sees each disk as /dev/disk/by-id/virtio-marsad-<purpose>[n]: how the roles find the
# data and backup disks, and how the guardrail recognises the backup disk.
DISK_SERIAL_PREFIX = "marsad-"


class ProxmoxSettingsError(ValueError):
    pass


def describe(server: hardware.Server, kind: str) -> dict:
    """A server as the stack records it: the inventory's names (snake_case), for one vocabulary."""
    return {
        "name": server.name, "address": server.address, "kind": kind, "cpu": server.cpu,
        "ram_gb": server.ram_gb, "roles": list(server.roles),
        "disks": [{"name": d.name, "size_gb": d.size_gb, "purpose": d.purpose} for d in server.disks],
    }


def proxmox_settings(env: hardware.Environment, server: hardware.Server) -> dict:
    """Defaults, then the environment's `proxmox:`, then the server's; ProxmoxSettingsError if incomplete."""
    settings = {**PROXMOX_DEFAULTS, **env.proxmox, **server.proxmox}
    missing = [key for key in PROXMOX_REQUIRED if not settings.get(key)]
    if missing:
        raise ProxmoxSettingsError(f"{env.display_file}: server {server.name}: proxmox setting(s) "
                                   f"{', '.join(missing)} missing (set them under `proxmox:` of the "
                                   "environment or of the server)")
    try:
        ipaddress.ip_address(server.address)
    except ValueError:
        raise ProxmoxSettingsError(f"{env.display_file}: server {server.name}: a Proxmox VM gets a static "
                                   f"address through cloud-init, so {server.address!r} must be an IP address") from None
    return settings


def disk_serials(disks: Sequence[hardware.Disk]) -> list[str]:
    """marsad-system, marsad-data, marsad-data1, marsad-backup...: unique per VM, at most 20 characters."""
    seen: dict[str, int] = {}
    serials = []
    for disk in disks:
        n = seen.get(disk.purpose, 0)
        seen[disk.purpose] = n + 1
        serials.append(f"{DISK_SERIAL_PREFIX}{disk.purpose}{n or ''}")
    return serials


def vm_disks(server: hardware.Server, settings: Mapping[str, Any]) -> list[dict]:
    """The VM's disks: the system disk first (it boots, imported from the cloud image), then the rest."""
    ordered = sorted(server.disks, key=lambda d: d.purpose != "system")
    disks = []
    for index, (disk, serial) in enumerate(zip(ordered, disk_serials(ordered))):
        disks.append({
            "interface": f"virtio{index}",
            "datastore_id": settings["datastore"],
            "size": math.ceil(disk.size_gb),
            "serial": serial,
            "discard": "on",
            "iothread": True,
            # Proxmox's own backups (vzdump) skip the backup disk: it holds copies already.
            "backup": disk.purpose != "backup",
            **({"import_from": settings["image"]} if disk.purpose == "system" else {}),
        })
    return disks


def cloud_init_user_data(env: hardware.Environment, server: hardware.Server, admin_user: str,
                         admin_ssh_keys: Sequence[str], guest_agent: bool = True) -> str:
    """cloud-config: hostname, the admin Ansible connects as (key only), the guest agent."""
    config: dict[str, Any] = {
        "hostname": server.name,
        "manage_etc_hosts": True,
        "ssh_pwauth": False,
    }
    if env.domain:
        config["fqdn"] = f"{server.name}.{env.domain}"
    if admin_user == "root":
        # Keys on root itself; the hardening role keeps root to keys only (prohibit-password).
        config.update({"disable_root": False, "ssh_authorized_keys": list(admin_ssh_keys)})
    else:
        config.update({"disable_root": True, "users": [{
            "name": admin_user, "groups": ["sudo"], "shell": "/bin/bash", "lock_passwd": True,
            "sudo": "ALL=(ALL) NOPASSWD:ALL", "ssh_authorized_keys": list(admin_ssh_keys),
        }]})
    if guest_agent:
        # Proxmox waits for the agent to report addresses and to shut down cleanly.
        config.update({"package_update": True, "packages": ["qemu-guest-agent"],
                       "runcmd": [["systemctl", "enable", "--now", "qemu-guest-agent"]]})
    return "#cloud-config\n" + yaml.safe_dump(config, sort_keys=False)


class BareMetalServer(pulumi.ComponentResource):
    """A server that exists already: registered, not created; its outputs are its description."""

    def __init__(self, name: str, description: Mapping[str, Any], opts: pulumi.ResourceOptions | None = None):
        super().__init__(BARE_METAL_TYPE, name, dict(description), opts)
        self.description = dict(description)
        self.register_outputs(self.description)


class Servers(pulumi.ComponentResource):
    """The machines of `env`; `machines` maps each server's name to its description."""

    def __init__(self, name: str, *, env: hardware.Environment, admin_users: Mapping[str, str],
                 admin_ssh_keys: Sequence[str] = (), opts: pulumi.ResourceOptions | None = None):
        super().__init__(TYPE, name, {"environment": env.name, "kind": env.kind}, opts)
        self.machines: dict[str, Any] = {}
        if env.kind == "proxmox" and not admin_ssh_keys:
            raise ProxmoxSettingsError("new Proxmox VMs need at least one admin SSH key: "
                                       "pulumi config set --path 'adminSshKeys[0]' \"$(cat ~/.ssh/id_ed25519.pub)\"")
        for server in env.servers:
            description = describe(server, env.kind)
            if env.kind == "proxmox":
                vm = self._virtual_machine(env, server, admin_users[server.name], admin_ssh_keys)
                description["vm_id"] = vm.vm_id   # Proxmox's number, known once created
            else:
                BareMetalServer(server.name, description, pulumi.ResourceOptions(parent=self))
            self.machines[server.name] = description
        self.register_outputs({"machines": self.machines})

    def _virtual_machine(self, env, server, admin_user, admin_ssh_keys) -> proxmoxve.VmLegacy:
        settings = proxmox_settings(env, server)
        child = pulumi.ResourceOptions(parent=self)
        user_data = proxmoxve.FileLegacy(
            f"{server.name}-cloud-init",
            content_type="snippets",
            datastore_id=settings["snippets_datastore"],
            node_name=settings["node"],
            source_raw={"data": cloud_init_user_data(env, server, admin_user, admin_ssh_keys, settings["guest_agent"]),
                        "file_name": f"marsad-{env.name}-{server.name}.cloud-config.yaml"},
            opts=child,
        )
        network = {"bridge": settings["bridge"]}
        if settings.get("vlan_id"):
            network["vlan_id"] = settings["vlan_id"]
        dns = {k: v for k, v in (("servers", settings.get("dns_servers")), ("domain", env.domain)) if v}
        return proxmoxve.VmLegacy(
            server.name,
            name=server.name,
            node_name=settings["node"],
            vm_id=settings.get("vm_id"),
            description=f"Marsad {env.name}: {', '.join(server.roles)} (managed by Pulumi from hardware/)",
            tags=sorted({"marsad", env.name, *server.roles}),
            on_boot=True,
            started=True,
            stop_on_destroy=True,
            agent={"enabled": bool(settings["guest_agent"])},
            cpu={"cores": server.cpu, "type": settings["cpu_type"]},
            memory={"dedicated": int(server.ram_gb * 1024)},
            operating_system={"type": "l26"},
            scsi_hardware="virtio-scsi-single",
            boot_orders=["virtio0"],
            disks=vm_disks(server, settings),
            network_devices=[network],
            initialization={
                "datastore_id": settings["datastore"],
                "ip_configs": [{"ipv4": {"address": f"{server.address}/{settings['prefix_length']}",
                                         "gateway": settings["gateway"]}}],
                **({"dns": dns} if dns else {}),
                "user_data_file_id": user_data.id,
            },
            opts=child,
        )
