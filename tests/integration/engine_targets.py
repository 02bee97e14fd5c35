"""A Glue job, an EMR Serverless application and an AWS Batch queue and job definition on
the moto server, and a trigger of each kind at them."""

from __future__ import annotations

from typing import Any

from observability.clients import AwsClients
from observability.triggers import BatchJobTrigger, EmrServerlessTrigger, GlueJobTrigger, Trigger
from tests.conftest import new_id

ACCOUNT = "123456789012"
EMR_ROLE = f"arn:aws:iam::{ACCOUNT}:role/emr-job"


def glue_job(clients: AwsClients, **extra: Any) -> str:
    name = new_id("glue")
    clients.client("glue").create_job(
        Name=name,
        Role=f"arn:aws:iam::{ACCOUNT}:role/glue",
        Command={"Name": "glueetl", "ScriptLocation": "s3://scripts/load.py"},
        **extra,
    )
    return name


def emr_application(clients: AwsClients) -> str:
    return str(
        clients.client("emr-serverless").create_application(
            name=new_id("app"), releaseLabel="emr-7.0.0", type="SPARK"
        )["applicationId"]
    )


def batch_queue(clients: AwsClients) -> tuple[str, str]:
    """A job queue and a job definition (whose own retryStrategy every SubmitJob overrides)."""
    iam, batch = clients.client("iam"), clients.client("batch")
    role = iam.create_role(RoleName=new_id("batch"), AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    environment = batch.create_compute_environment(
        computeEnvironmentName=new_id("ce"), type="UNMANAGED", state="ENABLED", serviceRole=role
    )["computeEnvironmentArn"]
    queue = batch.create_job_queue(
        jobQueueName=new_id("queue"),
        state="ENABLED",
        priority=1,
        computeEnvironmentOrder=[{"order": 1, "computeEnvironment": environment}],
    )["jobQueueName"]
    definition = batch.register_job_definition(
        jobDefinitionName=new_id("load"),
        type="container",
        containerProperties={"image": "load:1", "vcpus": 1, "memory": 512, "command": ["load"]},
        retryStrategy={"attempts": 3},
    )["jobDefinitionName"]
    return str(queue), str(definition)


def engine_triggers(clients: AwsClients) -> dict[str, Trigger]:
    queue, definition = batch_queue(clients)
    return {
        "glue": GlueJobTrigger(job_name=glue_job(clients), arguments={"--month": "2024-05"}),
        "emrserverless": EmrServerlessTrigger(
            application_id=emr_application(clients),
            execution_role_arn=EMR_ROLE,
            job_driver={"sparkSubmit": {"entryPoint": "s3://scripts/load.py"}},
        ),
        "batch": BatchJobTrigger(job_queue=queue, job_definition=definition),
    }
