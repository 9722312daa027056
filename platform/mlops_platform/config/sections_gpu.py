"""Config of a GPU pool's multi-node training placement (capacity reservation, cluster placement group,
EFA). Used by `sections_aws.GpuPoolConfig`; the rules that check it against the instance type are in
`rules_gpu`."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from mlops_platform.config.section_types import _Section


class ReservationKind(StrEnum):
    """What a capacity reservation id names: an On-Demand Capacity Reservation, or a Capacity Block for ML
    (bought for a time window; its nodes launch with the `capacity-block` market type)."""

    ON_DEMAND = "on_demand"
    CAPACITY_BLOCK = "capacity_block"


class CapacityReservationConfig(_Section):
    id: str = Field(pattern=r"^cr-[0-9a-f]{17}$", description="Capacity reservation id (cr-…). Required.")
    kind: ReservationKind = Field(default=ReservationKind.ON_DEMAND,
                                  description="on_demand (ODCR) or capacity_block.")


class MultiNodeConfig(_Section):
    """`node_pools.gpu[].multi_node` — nodes that train together: one AZ, optionally reserved capacity, a
    cluster placement group and EFA. Unset: the pool spreads over every private subnet."""

    availability_zone: str | None = Field(
        default=None, description="The AZ the pool runs in (a placement group and a reservation live in one AZ). "
                                  "Required when network.mode: managed; unset with an existing network.")
    subnet_id: str | None = Field(default=None, pattern=r"^subnet-[0-9a-f]{8,17}$",
                                  description="The private subnet the pool runs in, one of network.existing."
                                              "private_subnet_ids. Required when network.mode: existing; unset "
                                              "with a managed network.")
    placement_group: bool = Field(default=False,
                                  description="Launch the nodes in a cluster placement group (low latency).")
    efa: bool = Field(default=False,
                      description="Attach every Elastic Fabric Adapter the instance type takes, with the EFA "
                                  "security group (all traffic within itself).")
    capacity_reservation: CapacityReservationConfig | None = Field(
        default=None, description="Launch into this capacity reservation. Unset: no reservation.")
