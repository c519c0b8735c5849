//! The contract version of the runtime image `up` is about to deploy, read from its
//! manifest in ECR: an image built from another contract than this envctl's (a rollback
//! to an image older than a renamed setting, say) is refused before anything is applied.
//!
//! CI stamps the version on every image it builds (.github/workflows/image.yml): as an
//! annotation on the image index and on the image manifest, and as a label in the image's
//! config. envctl reads the annotation: BatchGetImage returns the manifest (or index) the
//! tag points at, so one API call answers without pulling a blob. The label in the config
//! blob is for people (`docker inspect`) and tools that read labels.

use aws_sdk_ecr::types::ImageIdentifier;
use rates_contract::{CONTRACT_VERSION, CONTRACT_VERSION_LABEL};
use serde_json::Value;

use crate::profile::Profile;
use crate::{Error, Result};

use super::Aws;

/// The manifest types envctl accepts from BatchGetImage: what buildx pushes (an OCI index
/// holding the image manifest and its attestation manifests, or a single OCI manifest),
/// and Docker's own types for images pushed by other tools.
const ACCEPTED_MEDIA_TYPES: [&str; 4] = [
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json",
];

/// The image whose contract is checked: an ECR repository in the environment's account
/// and a tag or digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EcrImage {
    pub repository: String,
    /// A tag, or `sha256:...` for a digest.
    pub reference: String,
}

impl EcrImage {
    /// The image the profile deploys, when it lives in the environment's own ECR
    /// repository; `None` when `runtime.image.repository` names another registry (whose
    /// manifests envctl cannot read with the environment's AWS credentials).
    pub fn of(profile: &Profile) -> Option<EcrImage> {
        let image = &profile.runtime.image;
        image.repository.is_none().then(|| EcrImage {
            repository: crate::render::ecr_repository(profile),
            reference: image.tag.as_str().to_string(),
        })
    }

    fn identifier(&self, reference: &str) -> ImageIdentifier {
        let id = ImageIdentifier::builder();
        if reference.starts_with("sha256:") {
            id.image_digest(reference).build()
        } else {
            id.image_tag(reference).build()
        }
    }
}

impl std::fmt::Display for EcrImage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sep = if self.reference.starts_with("sha256:") {
            "@"
        } else {
            ":"
        };
        write!(f, "{}{sep}{}", self.repository, self.reference)
    }
}

/// Reads the image's contract version from ECR and compares it with the one this envctl
/// was built with. Returns the (equal) version; refuses a missing, unreadable or other
/// version with what to do instead (`skip_command`: the command that deploys it anyway,
/// when there is one).
pub async fn check_contract(
    aws: &Aws,
    image: &EcrImage,
    skip_command: Option<&str>,
) -> Result<u32> {
    let found = contract_version(aws, image).await?;
    let skip = match skip_command {
        Some(command) => {
            format!("; if you know this image matches, `{command}` deploys it anyway")
        }
        None => String::new(),
    };
    let version = match found {
        None => {
            return Err(Error::ImageContract {
                image: image.to_string(),
                message: format!(
                    "the image carries no contract version (no `{CONTRACT_VERSION_LABEL}` annotation): \
                     it was built by hand or before images were stamped, so whether it reads the \
                     settings this envctl renders (contract version {CONTRACT_VERSION}) is unknown"
                ),
                help: format!(
                    "deploy an image built by .github/workflows/image.yml, which stamps the version{skip}"
                ),
            })
        }
        Some(text) => text.trim().parse::<u32>().map_err(|_| Error::ImageContract {
            image: image.to_string(),
            message: format!("its `{CONTRACT_VERSION_LABEL}` annotation is `{text}`, not a version number"),
            help: format!("rebuild the image with .github/workflows/image.yml{skip}"),
        })?,
    };
    if version == CONTRACT_VERSION {
        return Ok(version);
    }
    let (message, help) = if version < CONTRACT_VERSION {
        (
            format!(
                "the image was built with contract version {version}, but this envctl renders the \
                 runtime's settings for contract version {CONTRACT_VERSION}: that runtime would not \
                 read them as meant"
            ),
            format!(
                "to roll back that far, run the envctl of the image's own commit (it renders what \
                 that runtime reads), or deploy an image built with contract version {CONTRACT_VERSION}{skip}"
            ),
        )
    } else {
        (
            format!(
                "the image was built with contract version {version}, newer than this envctl's \
                 {CONTRACT_VERSION}: it would render settings that runtime no longer reads as meant"
            ),
            format!("update envctl to the image's commit and deploy with that{skip}"),
        )
    };
    Err(Error::ImageContract {
        image: image.to_string(),
        message,
        help,
    })
}

/// The image's contract version annotation: on the manifest the tag names or, when that
/// is an index without it, on its image manifests (attestation manifests, whose platform
/// is `unknown/unknown`, are skipped). `None` when nothing carries it.
async fn contract_version(aws: &Aws, image: &EcrImage) -> Result<Option<String>> {
    let ecr = aws_sdk_ecr::Client::new(&aws.sdk);
    let top = manifest(&ecr, image, &image.reference).await?;
    if let Some(v) = annotation(&top) {
        return Ok(Some(v));
    }
    let children: Vec<String> = top["manifests"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["platform"]["os"].as_str() != Some("unknown"))
        .filter_map(|m| m["digest"].as_str().map(str::to_string))
        .collect();
    let mut versions = std::collections::BTreeSet::new();
    for digest in &children {
        if let Some(v) = annotation(&manifest(&ecr, image, digest).await?) {
            versions.insert(v);
        }
    }
    match versions.len() {
        0 => Ok(None),
        1 => Ok(versions.pop_first()),
        _ => Err(Error::ImageContract {
            image: image.to_string(),
            message: format!(
                "its platform images carry different contract versions ({})",
                versions.into_iter().collect::<Vec<_>>().join(", ")
            ),
            help: "rebuild the image from one commit with .github/workflows/image.yml".into(),
        }),
    }
}

fn annotation(manifest: &Value) -> Option<String> {
    manifest["annotations"][CONTRACT_VERSION_LABEL]
        .as_str()
        .map(str::to_string)
}

/// One manifest of the image's repository (BatchGetImage), parsed.
async fn manifest(ecr: &aws_sdk_ecr::Client, image: &EcrImage, reference: &str) -> Result<Value> {
    let operation = format!("ecr:BatchGetImage ({image})");
    let out = ecr
        .batch_get_image()
        .repository_name(&image.repository)
        .image_ids(image.identifier(reference))
        .set_accepted_media_types(Some(
            ACCEPTED_MEDIA_TYPES.iter().map(|t| t.to_string()).collect(),
        ))
        .send()
        .await
        .map_err(|e| {
            use aws_sdk_ecr::error::ProvideErrorMetadata;
            if e.code() == Some("RepositoryNotFoundException") {
                return Error::ImageContract {
                    image: image.to_string(),
                    message: format!("there is no ECR repository `{}`", image.repository),
                    help: "the account setup creates it (terraform/modules/github_oidc, \
                           image_repositories) and CI pushes the image there"
                        .into(),
                };
            }
            Error::aws(operation.clone())(e)
        })?;
    let Some(found) = out.images().first() else {
        let reason = out
            .failures()
            .first()
            .and_then(|f| f.failure_reason())
            .unwrap_or("not found")
            .to_string();
        return Err(Error::ImageContract {
            image: image.to_string(),
            message: format!(
                "ECR has no image `{reference}` in `{}` ({reason})",
                image.repository
            ),
            help:
                "push it first (.github/workflows/image.yml builds the commit's image and tags it \
                   with the full commit SHA), or pass the tag of an image that is there"
                    .into(),
        });
    };
    let text = found.image_manifest().unwrap_or_default();
    serde_json::from_str(text).map_err(|e| Error::Aws {
        operation,
        message: format!("the manifest of `{reference}` is not JSON: {e}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_annotation_is_read_by_the_contract_key_only() {
        let with = serde_json::json!({"annotations": {CONTRACT_VERSION_LABEL: "3", "other": "9"}});
        assert_eq!(annotation(&with).as_deref(), Some("3"));
        let without =
            serde_json::json!({"annotations": {"org.opencontainers.image.revision": "abc"}});
        assert_eq!(annotation(&without), None);
    }
}
