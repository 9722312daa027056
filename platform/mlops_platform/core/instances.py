"""EC2 instance catalog: the facts validation, policies, preflight and the cost model share.

One reviewed table, not numbers sprinkled through the code. Prices are us-east-1 Linux on-demand
USD/hour (AWS public price list, checked 2026-11; see docs/operations.md); the cost model scales them per
region and swaps in the Pricing API when credentials exist.

The p4de and p5en rows (vCPUs, memory, GPUs, GPU model, EFA interfaces) are DescribeInstanceTypes as Karpenter
publishes it (aws/karpenter-provider-aws website/content/en/docs/reference/instance-types.md, generated from the
EC2 API: `karpenter.k8s.aws/instance-cpu`, `instance-memory` in MiB, `instance-gpu-count`, `instance-gpu-name`,
`instance-gpu-memory` 81920 MiB for p4de and 144384 MiB for p5en, `vpc.amazonaws.com/efa`), their prices the
Pricing API's us-east-1 on-demand rates (same repository, pkg/providers/pricing/zz_generated.pricing_aws.go,
generated 2026-07-20: p4de.24xlarge 27.44705, p5en.48xlarge 63.296; it lists p4d and p5 at the rates below).
p5e.48xlarge (H200, 32 EFA) has no us-east-1 on-demand rate there (sold through Capacity Blocks), so it is not
in the catalog: the cost model needs a rate for every type a pool may name.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum


class Arch(StrEnum):
    X86_64 = "x86_64"
    ARM64 = "arm64"


class GpuType(StrEnum):
    """Accelerator model; used as the `mlops.io/gpu-type` node label value."""

    T4 = "t4"
    T4G = "t4g"
    A10G = "a10g"
    L4 = "l4"
    L40S = "l40s"
    A100 = "a100"  # A100 SXM4 40 GB (p4d)
    A100_80GB = "a100-80gb"  # A100 SXM4 80 GB (p4de): other MIG profiles than the 40 GB part
    H100 = "h100"
    H200 = "h200"  # H200 141 GB (p5en)


class QuotaFamily(StrEnum):
    """EC2 vCPU quota buckets (Service Quotas, service code `ec2`)."""

    STANDARD = "standard"
    G_VT = "g_vt"
    P = "p"


#: Service Quotas codes per (family, capacity): on-demand running vCPUs / spot requested vCPUs.
QUOTA_CODES: dict[tuple[QuotaFamily, str], str] = {
    (QuotaFamily.STANDARD, "on_demand"): "L-1216C47A",
    (QuotaFamily.STANDARD, "spot"): "L-34B43A08",
    (QuotaFamily.G_VT, "on_demand"): "L-DB2E81BA",
    (QuotaFamily.G_VT, "spot"): "L-3819A6DF",
    (QuotaFamily.P, "on_demand"): "L-417A185B",
    (QuotaFamily.P, "spot"): "L-7212CCBC",
}


@dataclass(frozen=True)
class InstanceType:
    name: str
    vcpus: int
    memory_gib: int
    arch: Arch
    price_usd_hour: float
    gpus: int = 0
    gpu_type: GpuType | None = None
    efa_interfaces: int = 0
    """Most Elastic Fabric Adapters the type takes (0: no EFA); one per network card."""

    @property
    def family(self) -> str:
        return self.name.split(".", 1)[0]

    @property
    def quota_family(self) -> QuotaFamily:
        if self.family.startswith("p"):
            return QuotaFamily.P
        if self.family.startswith("g"):
            return QuotaFamily.G_VT
        return QuotaFamily.STANDARD


def _cpu(name: str, vcpus: int, mem: int, price: float, arch: Arch = Arch.X86_64) -> InstanceType:
    return InstanceType(name, vcpus, mem, arch, price)


def _gpu(name: str, vcpus: int, mem: int, price: float, gpus: int, gpu: GpuType,
         arch: Arch = Arch.X86_64) -> InstanceType:
    return InstanceType(name, vcpus, mem, arch, price, gpus, gpu)


_TYPES = [
    _cpu("m6i.large", 2, 8, 0.096), _cpu("m6i.xlarge", 4, 16, 0.192), _cpu("m6i.2xlarge", 8, 32, 0.384),
    _cpu("m6i.4xlarge", 16, 64, 0.768), _cpu("m7i.large", 2, 8, 0.1008), _cpu("m7i.xlarge", 4, 16, 0.2016),
    _cpu("m7i.2xlarge", 8, 32, 0.4032), _cpu("m5.large", 2, 8, 0.096), _cpu("m5.xlarge", 4, 16, 0.192),
    _cpu("m5.2xlarge", 8, 32, 0.384), _cpu("c6i.2xlarge", 8, 16, 0.34), _cpu("r6i.2xlarge", 8, 64, 0.504),
    _cpu("m7g.xlarge", 4, 16, 0.1632, Arch.ARM64), _cpu("m7g.2xlarge", 8, 32, 0.3264, Arch.ARM64),
    _gpu("g4dn.xlarge", 4, 16, 0.526, 1, GpuType.T4), _gpu("g4dn.2xlarge", 8, 32, 0.752, 1, GpuType.T4),
    _gpu("g4dn.12xlarge", 48, 192, 3.912, 4, GpuType.T4),
    _gpu("g5g.xlarge", 4, 8, 0.42, 1, GpuType.T4G, Arch.ARM64),
    _gpu("g5.xlarge", 4, 16, 1.006, 1, GpuType.A10G), _gpu("g5.2xlarge", 8, 32, 1.212, 1, GpuType.A10G),
    _gpu("g5.4xlarge", 16, 64, 1.624, 1, GpuType.A10G), _gpu("g5.12xlarge", 48, 192, 5.672, 4, GpuType.A10G),
    _gpu("g5.48xlarge", 192, 768, 16.288, 8, GpuType.A10G),
    _gpu("g6.xlarge", 4, 16, 0.8048, 1, GpuType.L4), _gpu("g6.2xlarge", 8, 32, 0.9776, 1, GpuType.L4),
    _gpu("g6.4xlarge", 16, 64, 1.3232, 1, GpuType.L4), _gpu("g6.12xlarge", 48, 192, 4.6016, 4, GpuType.L4),
    _gpu("g6.48xlarge", 192, 768, 13.3504, 8, GpuType.L4),
    _gpu("g6e.xlarge", 4, 32, 1.861, 1, GpuType.L40S), _gpu("g6e.2xlarge", 8, 64, 2.242, 1, GpuType.L40S),
    _gpu("g6e.12xlarge", 48, 384, 10.493, 4, GpuType.L40S),
    _gpu("p4d.24xlarge", 96, 1152, 21.958, 8, GpuType.A100),
    _gpu("p4de.24xlarge", 96, 1152, 27.44705, 8, GpuType.A100_80GB),
    _gpu("p5.48xlarge", 192, 2048, 55.04, 8, GpuType.H100),
    _gpu("p5en.48xlarge", 192, 2048, 63.296, 8, GpuType.H200),
]

#: EFA support: DescribeInstanceTypes `NetworkInfo.EfaInfo.MaximumEfaInterfaces` for the catalog's types
#: (EC2 User Guide, "Elastic Fabric Adapter" > "Supported instance types", and "Maximize network bandwidth
#: ... with multiple network cards": p4d.24xlarge has 4 network cards, p5.48xlarge 32; p4de 4 and p5en 16 as
#: Karpenter's instance-types reference lists them, `vpc.amazonaws.com/efa`). The smaller sizes of
#: g4dn/g5/g6/g6e (xlarge to 4xlarge) support no EFA.
EFA_INTERFACES: dict[str, int] = {
    "g4dn.12xlarge": 1, "g5.12xlarge": 1, "g5.48xlarge": 1, "g6.12xlarge": 1, "g6.48xlarge": 1,
    "g6e.12xlarge": 1, "p4d.24xlarge": 4, "p4de.24xlarge": 4, "p5.48xlarge": 32, "p5en.48xlarge": 16,
}

INSTANCE_TYPES: dict[str, InstanceType] = {
    t.name: replace(t, efa_interfaces=EFA_INTERFACES.get(t.name, 0)) for t in _TYPES}

#: GPU EKS AMI types and the CPU architecture their instances must have.
GPU_AMI_ARCH: dict[str, Arch] = {
    "AL2023_x86_64_NVIDIA": Arch.X86_64,
    "AL2023_ARM_64_NVIDIA": Arch.ARM64,
    "BOTTLEROCKET_x86_64_NVIDIA": Arch.X86_64,
    "BOTTLEROCKET_ARM_64_NVIDIA": Arch.ARM64,
}
#: CPU AMI types for the system pool.
CPU_AMI_ARCH: dict[str, Arch] = {
    "AL2023_x86_64_STANDARD": Arch.X86_64,
    "AL2023_ARM_64_STANDARD": Arch.ARM64,
    "BOTTLEROCKET_x86_64": Arch.X86_64,
    "BOTTLEROCKET_ARM_64": Arch.ARM64,
}


def lookup(name: str) -> InstanceType | None:
    """The catalog entry of an instance type, or None when the catalog does not know it."""
    return INSTANCE_TYPES.get(name)


def known_types(gpu: bool) -> list[str]:
    return sorted(n for n, t in INSTANCE_TYPES.items() if (t.gpus > 0) == gpu)
