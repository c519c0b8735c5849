"""The resources the stub provider makes real in an AWS emulator (moto), for tests only.

envctl reads some of what `terraform apply` creates back from AWS: the database master
secret and the admin token secret (GetSecretValue/PutSecretValue on the ARNs in the
outputs), the EKS cluster (DescribeCluster), the runtime's ECR repository (the root's
`data "aws_ecr_repository"`). For envctl's end-to-end tests to run the rendered root with
real Terraform core and then find those things, the stub creates them in moto on apply
(through boto3, at `AWS_ENDPOINT_URL`), records moto's own ids, ARNs and URLs as the
computed attributes, deletes them on destroy, and on refresh drops from state what is no
longer there (as the real provider does). The queue, the topics and the bucket whose
names and ARNs envctl writes into the cluster are created too, so what the runtime would
be pointed at exists.

Only the types in RESOURCES and DATA_SOURCES, and only their identity (name, and the few
arguments listed per type): policies, encryption, replication and the like stay in
Terraform state only. Every other type keeps the stub's generated values.

Switched on by `ENVCTL_STUB_MOTO=1` (envctl's tests set it), and then only with
`AWS_ENDPOINT_URL` set: a stub with real AWS credentials and no emulator must never
create anything in a real account.
"""

import os

ENABLE = "ENVCTL_STUB_MOTO"


class MotoError(Exception):
    """An emulator call failed; becomes the apply's error diagnostic."""


def enabled():
    if os.environ.get(ENABLE) != "1":
        return False
    if not os.environ.get("AWS_ENDPOINT_URL"):
        raise MotoError(f"{ENABLE}=1 needs AWS_ENDPOINT_URL (the moto server): refusing to create resources in a real account")
    return True


class Moto:
    def __init__(self, region):
        self.region = region
        self._clients = {}

    def client(self, service):
        if service not in self._clients:
            import boto3

            self._clients[service] = boto3.client(
                service, region_name=self.region, endpoint_url=os.environ["AWS_ENDPOINT_URL"]
            )
        return self._clients[service]

    # ------------------------------------------------------------ resources

    def create(self, type_name, obj):
        """Creates the object; returns the computed attributes moto answers."""
        return getattr(self, "create_" + type_name)(obj)

    def update(self, type_name, prior, obj):
        f = getattr(self, "update_" + type_name, None)
        return f(prior, obj) if f else {}

    def delete(self, type_name, obj):
        try:
            getattr(self, "delete_" + type_name)(obj)
        except Exception as e:  # already gone is what a delete wants
            if not _not_found(e):
                raise

    def exists(self, type_name, obj):
        try:
            return getattr(self, "exists_" + type_name)(obj)
        except Exception as e:
            if _not_found(e):
                return False
            raise

    # aws_eks_cluster: DescribeCluster is how envctl reaches the cluster.
    def create_aws_eks_cluster(self, o):
        vpc = (o.get("vpc_config") or [{}])[0]
        c = self.client("eks").create_cluster(
            name=o["name"],
            version=o.get("version") or "1.32",
            roleArn=o["role_arn"],
            resourcesVpcConfig={
                "subnetIds": list(vpc.get("subnet_ids") or []),
                "endpointPublicAccess": bool(vpc.get("endpoint_public_access")),
                "endpointPrivateAccess": bool(vpc.get("endpoint_private_access")),
            },
            tags=o.get("tags") or {},
        )["cluster"]
        return {
            "id": c["name"],
            "arn": c["arn"],
            "endpoint": c.get("endpoint"),
            "status": c.get("status"),
            "platform_version": c.get("platformVersion"),
            # Not moto's certificateAuthority: it is random text, not a base64 PEM, and the
            # roots base64decode it for the helm and kubernetes providers.
            "identity": [{"oidc": [{"issuer": c["identity"]["oidc"]["issuer"]}]}] if c.get("identity") else None,
        }

    def delete_aws_eks_cluster(self, o):
        self.client("eks").delete_cluster(name=o["name"])

    def exists_aws_eks_cluster(self, o):
        self.client("eks").describe_cluster(name=o["name"])
        return True

    # aws_secretsmanager_secret / _version: the master credentials and the admin token.
    def create_aws_secretsmanager_secret(self, o):
        args = {"Name": o["name"]}
        if o.get("description"):
            args["Description"] = o["description"]
        if o.get("tags"):
            args["Tags"] = [{"Key": k, "Value": v} for k, v in sorted(o["tags"].items())]
        arn = self.client("secretsmanager").create_secret(**args)["ARN"]
        return {"id": arn, "arn": arn}

    def delete_aws_secretsmanager_secret(self, o):
        window = int(o.get("recovery_window_in_days") or 0)
        args = {"SecretId": o["arn"]}
        args.update({"RecoveryWindowInDays": window} if window else {"ForceDeleteWithoutRecovery": True})
        self.client("secretsmanager").delete_secret(**args)

    def exists_aws_secretsmanager_secret(self, o):
        d = self.client("secretsmanager").describe_secret(SecretId=o["arn"])
        return not d.get("DeletedDate")

    def create_aws_secretsmanager_secret_version(self, o):
        out = self.client("secretsmanager").put_secret_value(SecretId=o["secret_id"], SecretString=o.get("secret_string") or "")
        return {"id": f"{out['ARN']}|{out['VersionId']}", "arn": out["ARN"], "version_id": out["VersionId"]}

    def update_aws_secretsmanager_secret_version(self, prior, o):
        # A new value is a new version in Secrets Manager; the resource keeps its id.
        self.client("secretsmanager").put_secret_value(SecretId=o["secret_id"], SecretString=o.get("secret_string") or "")
        return {}

    def delete_aws_secretsmanager_secret_version(self, o):
        # The version goes with its secret (deleted in the same destroy).
        pass

    def exists_aws_secretsmanager_secret_version(self, o):
        return self.exists_aws_secretsmanager_secret({"arn": o["arn"]})

    # aws_sqs_queue, aws_sns_topic, aws_s3_bucket: what the runtime is pointed at.
    def create_aws_sqs_queue(self, o):
        attrs = {"FifoQueue": "true"} if o.get("fifo_queue") else {}
        sqs = self.client("sqs")
        url = sqs.create_queue(QueueName=o["name"], Attributes=attrs)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        return {"id": url, "url": url, "arn": arn}

    def delete_aws_sqs_queue(self, o):
        self.client("sqs").delete_queue(QueueUrl=o["url"])

    def exists_aws_sqs_queue(self, o):
        self.client("sqs").get_queue_url(QueueName=o["name"])
        return True

    def create_aws_sns_topic(self, o):
        arn = self.client("sns").create_topic(Name=o["name"])["TopicArn"]
        return {"id": arn, "arn": arn}

    def delete_aws_sns_topic(self, o):
        self.client("sns").delete_topic(TopicArn=o["arn"])

    def exists_aws_sns_topic(self, o):
        self.client("sns").get_topic_attributes(TopicArn=o["arn"])
        return True

    def create_aws_s3_bucket(self, o):
        args = {"Bucket": o["bucket"]}
        if self.region != "us-east-1":
            args["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
        self.client("s3").create_bucket(**args)
        return {"id": o["bucket"], "arn": f"arn:aws:s3:::{o['bucket']}"}

    def delete_aws_s3_bucket(self, o):
        s3 = self.client("s3")
        if o.get("force_destroy"):
            # As the provider does with force_destroy: every object version first.
            for page in s3.get_paginator("list_object_versions").paginate(Bucket=o["bucket"]):
                for v in page.get("Versions", []) + page.get("DeleteMarkers", []):
                    s3.delete_object(Bucket=o["bucket"], Key=v["Key"], VersionId=v["VersionId"])
        s3.delete_bucket(Bucket=o["bucket"])

    def exists_aws_s3_bucket(self, o):
        self.client("s3").head_bucket(Bucket=o["bucket"])
        return True

    # ------------------------------------------------------------ data sources

    def read_aws_ecr_repository(self, cfg):
        """The repository the account setup made (the test pushes it): absent is an error,
        as with the real provider."""
        try:
            r = self.client("ecr").describe_repositories(repositoryNames=[cfg["name"]])["repositories"][0]
        except Exception as e:
            if _not_found(e):
                raise MotoError(f"reading ECR Repository ({cfg['name']}): couldn't find resource") from e
            raise
        return {
            "id": r["repositoryName"],
            "arn": r["repositoryArn"],
            "registry_id": r["registryId"],
            "repository_url": r["repositoryUri"],
            "image_tag_mutability": r.get("imageTagMutability"),
        }


RESOURCES = frozenset(
    name[len("create_"):] for name in vars(Moto) if name.startswith("create_") and name != "create"
)
DATA_SOURCES = frozenset(name[len("read_"):] for name in vars(Moto) if name.startswith("read_"))


def _not_found(e):
    code = getattr(e, "response", {}).get("Error", {}).get("Code", "")
    return code in (
        "ResourceNotFoundException",
        "NotFound",
        "NoSuchBucket",
        "404",
        "AWS.SimpleQueueService.NonExistentQueue",
        "QueueDoesNotExist",
        "RepositoryNotFoundException",
    )
