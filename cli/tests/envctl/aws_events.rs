//! An AWS environment with a webhook: `envctl up` keeps the signing key in the
//! Terraform-owned Secrets Manager secret (made once, an operator's own value kept), hands
//! it to the api and worker through Secret `rates-events`, rolls their pods when it
//! changes, and never writes it into the release history. moto for AWS, the in-test
//! Kubernetes API for the cluster, real Terraform core for the apply (support/).

use base64::Engine as _;

use crate::support::{World, ACCOUNT, REGION};

const NS: &str = "rates-staging";

fn deployment_digest(w: &World, name: &str) -> String {
    let d = w.kube.get("deployments", NS, name).unwrap();
    d["spec"]["template"]["metadata"]["annotations"]["envctl.io/config-digest"]
        .as_str()
        .unwrap_or_else(|| panic!("{name} has no config digest: {d}"))
        .to_string()
}

fn events_key(w: &World) -> String {
    let secret = w
        .kube
        .get("secrets", NS, "rates-events")
        .expect("Secret rates-events");
    let value = secret["data"]["RATES_WEBHOOK_SECRET"].as_str().unwrap();
    String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(value)
            .unwrap(),
    )
    .unwrap()
}

fn up(w: &World) {
    w.envctl()
        .args(["up", "staging", "--yes", "--timeout", "20s"])
        .succeeds();
}

#[test]
fn up_keeps_the_webhook_key_in_secrets_manager_hands_it_to_the_pods_and_never_records_it() {
    let w = World::new();
    w.provision_infrastructure("staging");
    w.edit_profile("staging", |doc| {
        doc["runtime"]["events"]["webhook_url"] = "https://hooks.example.com/rates".into();
    });

    // Real Terraform core applies the root: modules/queue creates the secret (count 1,
    // in moto through the stub provider), and its output names it.
    up(&w);
    let state = crate::support::read_state(&w.moto.endpoint_url(), "staging").unwrap();
    let webhook = state["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| {
            r["module"] == "module.queue"
                && r["type"] == "aws_secretsmanager_secret"
                && r["name"] == "webhook"
        })
        .expect("modules/queue's webhook secret is in the state");
    assert_eq!(webhook["instances"].as_array().unwrap().len(), 1);
    let sm = aws_sdk_secretsmanager::Client::new(&w.sdk());
    let arn =
        w.rt.block_on(
            sm.describe_secret()
                .secret_id("rates-staging/events/webhook-secret")
                .send(),
        )
        .expect("the webhook secret Terraform created")
        .arn
        .unwrap();
    let stored =
        w.rt.block_on(sm.get_secret_value().secret_id(&arn).send())
            .unwrap()
            .secret_string
            .unwrap();
    assert_eq!(stored.len(), 64, "envctl put 32 random bytes as hex");
    assert_eq!(events_key(&w), stored, "the pods get the kept key");
    let config = w.kube.get("configmaps", NS, "rates-config").unwrap();
    assert_eq!(
        config["data"]["RATES_WEBHOOK_URL"],
        "https://hooks.example.com/rates"
    );
    for name in ["rates-api", "rates-worker"] {
        let d = w.kube.get("deployments", NS, name).unwrap();
        let env_from = d["spec"]["template"]["spec"]["containers"][0]["envFrom"].to_string();
        assert!(env_from.contains("\"rates-events\""), "{name}: {env_from}");
    }
    let (api, worker) = (
        deployment_digest(&w, "rates-api"),
        deployment_digest(&w, "rates-worker"),
    );

    // Nothing changed: the same key, the same pods.
    up(&w);
    assert_eq!(events_key(&w), stored);
    assert_eq!(deployment_digest(&w, "rates-api"), api);

    // An operator puts the receiver's own key: the next up hands it over and rolls both.
    let own = "receivers-own-key-0123456789abcdef";
    w.rt.block_on(
        sm.put_secret_value()
            .secret_id(&arn)
            .secret_string(own)
            .send(),
    )
    .unwrap();
    up(&w);
    assert_eq!(events_key(&w), own);
    assert_ne!(deployment_digest(&w, "rates-api"), api, "the api rolls");
    assert_ne!(
        deployment_digest(&w, "rates-worker"),
        worker,
        "the worker rolls"
    );

    // The release history in the state bucket shows that the Secret changed, never the key.
    let s3 = aws_sdk_s3::Client::new(&w.sdk());
    let bucket = format!("envctl-tfstate-{ACCOUNT}-{REGION}");
    let listed =
        w.rt.block_on(
            s3.list_objects_v2()
                .bucket(&bucket)
                .prefix("envctl/releases/staging/")
                .send(),
        )
        .unwrap();
    let keys: Vec<String> = listed
        .contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_string))
        .collect();
    assert!(keys.len() >= 2, "two releases recorded: {keys:?}");
    let keys_as_stored: Vec<String> = [stored.as_str(), own]
        .iter()
        .flat_map(|k| {
            [
                k.to_string(),
                base64::engine::general_purpose::STANDARD.encode(k),
            ]
        })
        .collect();
    for key in &keys {
        let body =
            w.rt.block_on(s3.get_object().bucket(&bucket).key(key).send())
                .unwrap()
                .body;
        let text = String::from_utf8(w.rt.block_on(body.collect()).unwrap().to_vec()).unwrap();
        assert!(
            text.contains("rates-events"),
            "{key} records the Secret: {text}"
        );
        for secret in &keys_as_stored {
            assert!(!text.contains(secret.as_str()), "{key} holds a key");
        }
    }
}
