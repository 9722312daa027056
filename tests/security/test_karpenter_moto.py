"""Karpenter's AWS side against the moto server stand-in: the planned IAM documents are accepted by IAM's policy
validation, the interruption queue takes its policy, and each planned EventBridge rule delivers its kind of
event (spot interruption, rebalance, state change, AWS Health) to the queue Karpenter reads."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from mlops_platform.core.iam_karpenter import INTERRUPTION_EVENTS, interruption_queue_policy
from mlops_platform.engine import Plan, Resource

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("moto")]


def planned(plan: Plan, type_: str, contains: str) -> list[Resource]:
    return [r for r in plan.resources if r.type == type_ and contains in r.name]


def test_iam_accepts_the_planned_roles_and_controller_policy(moto: str, karpenter_plan: Plan) -> None:
    client = boto3.client("iam")
    for role in planned(karpenter_plan, "aws:iam/role:Role", "karpenter"):
        client.create_role(RoleName=role.get("name"), AssumeRolePolicyDocument=role.get("assumeRolePolicy"))
    (policy,) = planned(karpenter_plan, "aws:iam/rolePolicy:RolePolicy", "karpenter-controller")
    controller = next(r for r in planned(karpenter_plan, "aws:iam/role:Role", "controller-role"))
    client.put_role_policy(RoleName=controller.get("name"), PolicyName="karpenter",
                           PolicyDocument=policy.get("policy"))
    stored = client.get_role_policy(RoleName=controller.get("name"), PolicyName="karpenter")["PolicyDocument"]
    assert {s["Sid"] for s in stored["Statement"]} == {s["Sid"] for s in json.loads(policy.get("policy"))["Statement"]}
    # control: the stand-in really validates documents (a condition operator IAM does not know is refused)
    broken = json.loads(policy.get("policy"))
    broken["Statement"][0]["Condition"] = {"StringEqualz": {"aws:RequestedRegion": "us-east-1"}}
    with pytest.raises(client.exceptions.MalformedPolicyDocumentException):
        client.put_role_policy(RoleName=controller.get("name"), PolicyName="broken", PolicyDocument=json.dumps(broken))


def _queue(karpenter_plan: Plan) -> tuple[Any, str, str]:
    (queue,) = planned(karpenter_plan, "aws:sqs/queue:Queue", "karpenter")
    sqs = boto3.client("sqs")
    url = sqs.create_queue(QueueName=queue.get("name"), Attributes={
        "SqsManagedSseEnabled": str(queue.get("sqsManagedSseEnabled")).lower(),
        "MessageRetentionPeriod": str(int(queue.get("messageRetentionSeconds")))})["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(interruption_queue_policy(arn))})
    return sqs, url, arn


def test_each_rule_delivers_its_event_to_the_interruption_queue(moto: str, karpenter_plan: Plan) -> None:
    sqs, url, arn = _queue(karpenter_plan)
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attributes["SqsManagedSseEnabled"] == "true" and attributes["MessageRetentionPeriod"] == "300"
    events = boto3.client("events")
    rules = planned(karpenter_plan, "aws:cloudwatch/eventRule:EventRule", "karpenter")
    assert len(rules) == len(INTERRUPTION_EVENTS)
    for rule in rules:
        events.put_rule(Name=rule.get("name"), EventPattern=rule.get("eventPattern"))
        events.put_targets(Rule=rule.get("name"), Targets=[{"Id": "KarpenterInterruptionQueueTarget", "Arn": arn}])
    for source, detail in INTERRUPTION_EVENTS.values():
        events.put_events(Entries=[{"Source": source, "DetailType": detail, "Detail": json.dumps({"x": 1})}])
    events.put_events(Entries=[{"Source": "aws.ec2", "DetailType": "EC2 AMI State Change", "Detail": "{}"}])
    received = []
    for _ in range(len(INTERRUPTION_EVENTS) + 1):
        for message in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
            received.append(json.loads(message["Body"])["detail-type"])
    assert sorted(received) == sorted(detail for _, detail in INTERRUPTION_EVENTS.values())
