//! Checks that span several profile keys (min <= max, Multi-AZ needs two zones, ...).
//! Single values are already checked by their types; this is everything else.

use super::{Capacity, IngressScheme, Profile, Replicas, Resources, Target};

/// One thing wrong with a profile: the key to change, what is wrong and what is allowed.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Problem {
    pub key: String,
    pub message: String,
    pub help: Option<String>,
}

struct Checker {
    problems: Vec<Problem>,
}

impl Checker {
    fn require(
        &mut self,
        ok: bool,
        key: impl Into<String>,
        message: impl Into<String>,
        help: impl Into<String>,
    ) {
        if !ok {
            self.problems.push(Problem {
                key: key.into(),
                message: message.into(),
                help: Some(help.into()),
            });
        }
    }

    fn range<T: PartialOrd + std::fmt::Display + Copy>(
        &mut self,
        value: T,
        lo: T,
        hi: T,
        key: &str,
    ) {
        self.require(
            value >= lo && value <= hi,
            key,
            format!("{value} is out of range"),
            format!("allowed: {lo} to {hi}"),
        );
    }

    fn replicas(&mut self, r: Replicas, key: &str, min_floor: u32) {
        self.require(
            r.min <= r.max,
            format!("{key}.min"),
            format!("min ({}) is greater than max ({})", r.min, r.max),
            "set min <= max",
        );
        self.require(
            r.min >= min_floor,
            format!("{key}.min"),
            format!("min is {}, below {min_floor}", r.min),
            format!("allowed: at least {min_floor}"),
        );
        self.require(
            r.max >= 1,
            format!("{key}.max"),
            "max must be at least 1",
            "allowed: 1 or more",
        );
    }

    fn resources(&mut self, r: &Resources, key: &str) {
        self.require(
            r.cpu_request.millicores() <= r.cpu_limit.millicores(),
            format!("{key}.cpu_request"),
            format!(
                "cpu_request ({}) exceeds cpu_limit ({})",
                r.cpu_request.as_str(),
                r.cpu_limit.as_str()
            ),
            "requests must not exceed limits",
        );
        self.require(
            r.memory_request.mebibytes() <= r.memory_limit.mebibytes(),
            format!("{key}.memory_request"),
            format!(
                "memory_request ({}) exceeds memory_limit ({})",
                r.memory_request.as_str(),
                r.memory_limit.as_str()
            ),
            "requests must not exceed limits",
        );
    }
}

/// `arn:PARTITION:iam::ACCOUNT:role/NAME` (or `user/`), or `role/NAME` / `user/NAME`.
fn admin_principal_ok(a: &str) -> bool {
    let name_ok = |path: &str| {
        let (kind, name) = path.split_once('/').unwrap_or(("", ""));
        matches!(kind, "role" | "user")
            && !name.is_empty()
            && name.len() <= 512
            && name
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || "+=,.@_-/".contains(ch))
    };
    match a.strip_prefix("arn:") {
        None => name_ok(a),
        Some(rest) => {
            let parts: Vec<&str> = rest.splitn(5, ':').collect();
            parts.len() == 5
                && parts[0].starts_with("aws")
                && parts[1] == "iam"
                && parts[2].is_empty()
                && parts[3].len() == 12
                && parts[3].chars().all(|ch| ch.is_ascii_digit())
                && name_ok(parts[4])
        }
    }
}

/// A role for `storage.producer_roles`: an admin principal that is a role.
fn role_ok(a: &str) -> bool {
    let path = a.rsplit_once(':').map_or(a, |(_, p)| p);
    admin_principal_ok(a) && path.starts_with("role/")
}

/// `rates.example.com`: lowercase labels of letters, digits and `-`, at least two.
fn dns_name_ok(name: &str) -> bool {
    name.len() <= 253
        && name.split('.').count() >= 2
        && name.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars()
                    .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '-')
        })
}

/// `arn:PARTITION:acm:REGION:ACCOUNT:certificate/ID`, split into (region, id).
fn acm_arn(arn: &str) -> Option<(&str, &str)> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let ok = parts.len() == 6
        && parts[0] == "arn"
        && parts[1].starts_with("aws")
        && parts[2] == "acm"
        && parts[4].len() == 12
        && parts[4].chars().all(|ch| ch.is_ascii_digit());
    let id = parts.get(5)?.strip_prefix("certificate/")?;
    (ok && !id.is_empty()).then(|| (parts[3], id))
}

/// The api's edge: HTTPS wherever the internet reaches it, names under the zone, WAF.
fn ingress(c: &mut Checker, p: &Profile) {
    let ingress = &p.runtime.ingress;
    if let Some(zone) = &ingress.dns_zone {
        c.require(
            dns_name_ok(zone),
            "runtime.ingress.dns_zone",
            format!("`{zone}` is not a DNS zone name"),
            "write the hosted zone's name like `example.com` (no trailing dot)",
        );
    }
    if let Some(host) = &ingress.host {
        c.require(
            dns_name_ok(host),
            "runtime.ingress.host",
            format!("`{host}` is not a DNS name"),
            "write it like `rates.example.com`",
        );
        if let Some(zone) = &ingress.dns_zone {
            c.require(
                host.ends_with(&format!(".{zone}")),
                "runtime.ingress.host",
                format!("`{host}` is not in the zone `{zone}` (runtime.ingress.dns_zone)"),
                format!("use a name under {zone}, or the zone that holds {host}"),
            );
        }
    }
    if let Some(arn) = &ingress.certificate_arn {
        match acm_arn(arn) {
            None => c.require(
                false,
                "runtime.ingress.certificate_arn",
                format!("`{arn}` is not an ACM certificate ARN"),
                "write it like arn:aws:acm:REGION:ACCOUNT:certificate/ID",
            ),
            Some((region, _)) => c.require(
                region == p.aws.region.as_str(),
                "runtime.ingress.certificate_arn",
                format!(
                    "the certificate is in {region}, but the load balancer is in {} (aws.region)",
                    p.aws.region
                ),
                "a load balancer can use only ACM certificates of its own region: import or request one there",
            ),
        }
        c.require(
            p.api_host().is_some(),
            "runtime.ingress.certificate_arn",
            "a certificate is given but no name the api answers on",
            "set runtime.ingress.host to the name the certificate covers",
        );
    }
    c.require(
        p.target != Target::Aws
            || ingress.scheme != IngressScheme::InternetFacing
            || ingress.tls(),
        "runtime.ingress.scheme",
        "an internet-facing load balancer needs a certificate: without one the api (and every token sent to it) would travel in plain HTTP",
        "set runtime.ingress.dns_zone to a Route 53 hosted zone (a certificate is requested and validated there) or runtime.ingress.certificate_arn to an ACM certificate; or use scheme: internal",
    );
    c.range(
        ingress.waf.requests_per_5_minutes,
        10,
        2_000_000_000,
        "runtime.ingress.waf.requests_per_5_minutes",
    );
}

/// Every cross-key problem of `p`, in file order of the sections.
/// `review:`: a lifetime that a stack can outlive its deploy in, capped like `--ttl`
/// (a month), and a warning that comes before the expiry, not before the creation.
fn review(c: &mut Checker, p: &Profile) {
    let Some(r) = &p.review else { return };
    c.require(
        p.name.as_str() == "review",
        "review",
        format!(
            "`review:` only applies to review stacks; {} is not the review profile",
            p.name
        ),
        "move it to environments/review.yaml",
    );
    let hour = super::Span::hours(1);
    let month = super::Span::hours(30 * 24);
    c.require(
        r.max_lifetime >= hour && r.max_lifetime <= month,
        "review.max_lifetime",
        format!("{} is out of range", r.max_lifetime),
        "allowed: 1h to 30d",
    );
    c.require(
        r.warn_before >= super::Span(std::time::Duration::from_secs(60))
            && r.warn_before < r.max_lifetime,
        "review.warn_before",
        format!(
            "{} must be at least 1m and shorter than review.max_lifetime ({})",
            r.warn_before, r.max_lifetime
        ),
        "e.g. 24h",
    );
}

pub(super) fn check(p: &Profile) -> Vec<Problem> {
    let mut c = Checker {
        problems: Vec::new(),
    };

    // aws: reported at `protected:` (the line that makes the account required), since the
    // missing key has no line of its own.
    c.require(
        !p.protected || p.target != Target::Aws || p.aws.account_id.is_some(),
        "protected",
        "a protected environment must set aws.account_id, so Terraform refuses to run against any other account",
        "add `aws: {account_id: \"123456789012\"}` with your account's 12 digits, quoted",
    );

    // network
    let prefix = p.network.vpc_cidr.0.prefix_len();
    c.require(
        (16..=20).contains(&prefix),
        "network.vpc_cidr",
        format!("a /{prefix} VPC is outside the supported sizes"),
        "allowed: a prefix from /16 to /20 (each zone gets /4 subdivisions for public, private and database subnets)",
    );
    c.range(p.network.az_count, 1, 3, "network.az_count");

    // database before eks: its zone rule is the more specific message
    let db = &p.database;
    c.require(
        !db.multi_az || p.network.az_count >= 2,
        "database.multi_az",
        format!(
            "a Multi-AZ database needs at least 2 availability zones, but network.az_count is {}",
            p.network.az_count
        ),
        "set network.az_count to 2 or 3, or database.multi_az: false",
    );
    c.require(
        db.allocated_storage_gib >= 20 && db.allocated_storage_gib <= 65536,
        "database.allocated_storage_gib",
        format!("{} GiB is out of range", db.allocated_storage_gib),
        "allowed: 20 to 65536",
    );
    c.require(
        db.max_allocated_storage_gib >= db.allocated_storage_gib,
        "database.max_allocated_storage_gib",
        format!(
            "max_allocated_storage_gib ({}) is below allocated_storage_gib ({})",
            db.max_allocated_storage_gib, db.allocated_storage_gib
        ),
        "storage autoscaling grows up to this; set it >= allocated_storage_gib",
    );
    c.range(db.read_replicas, 0, 5, "database.read_replicas");
    c.range(
        db.backup_retention_days,
        0,
        35,
        "database.backup_retention_days",
    );
    c.require(
        db.read_replicas == 0 || db.backup_retention_days >= 1,
        "database.backup_retention_days",
        "read replicas need automated backups, but backup_retention_days is 0",
        "set backup_retention_days to 1 or more, or read_replicas: 0",
    );
    c.require(
        [0, 1, 5, 10, 15, 30, 60].contains(&db.monitoring_interval_seconds),
        "database.monitoring_interval_seconds",
        format!(
            "{} is not an enhanced monitoring interval",
            db.monitoring_interval_seconds
        ),
        "allowed: 0 (off), 1, 5, 10, 15, 30, 60",
    );
    c.require(
        db.log_min_duration_ms >= -1,
        "database.log_min_duration_ms",
        format!("{} is not allowed", db.log_min_duration_ms),
        "allowed: -1 (off) or a duration in milliseconds",
    );

    // eks
    c.require(
        p.network.az_count >= 2,
        "network.az_count",
        format!(
            "EKS needs subnets in at least 2 availability zones, but az_count is {}",
            p.network.az_count
        ),
        "allowed: 2 or 3",
    );
    c.require(
        !p.eks.endpoint_public_access || !p.eks.public_access_cidrs.is_empty(),
        "eks.public_access_cidrs",
        "the public endpoint is on but no CIDR may reach it",
        "list the CIDRs of your CI runners and operators, or set endpoint_public_access: false",
    );
    c.require(
        !p.eks.node_groups.is_empty(),
        "eks.node_groups",
        "there are no node groups",
        "add at least one on_demand group",
    );
    c.require(
        p.eks.node_groups.iter().any(|g| g.capacity == Capacity::OnDemand),
        "eks.node_groups",
        "no on_demand node group: the api and cluster services only run on on-demand nodes (spot nodes are tainted for workers)",
        "add a node group with `capacity: on_demand`",
    );
    c.range(p.eks.controller_replicas, 1, 5, "eks.controller_replicas");
    c.require(
        p.target != Target::Aws || !p.eks.admin_principals.is_empty(),
        "eks.admin_principals",
        "no cluster administrators: the cluster's creator gets no implicit access, so nobody (not even `envctl up`) could reach it",
        "list the deploy role and whoever runs envctl up, e.g. [role/envctl-github-deploy, arn:aws:iam::123456789012:role/admin]",
    );
    for (i, a) in p.eks.admin_principals.iter().enumerate() {
        c.require(
            admin_principal_ok(a),
            format!("eks.admin_principals[{i}]"),
            format!("`{a}` is not an IAM role or user"),
            "write an ARN like arn:aws:iam::123456789012:role/NAME, or role/NAME or user/NAME in the environment's account (not an assumed-role session ARN)",
        );
        c.require(
            p.eks.admin_principals.iter().filter(|o| *o == a).count() == 1,
            format!("eks.admin_principals[{i}]"),
            format!("`{a}` is listed twice"),
            "list each principal once",
        );
    }
    for (i, a) in p.eks.view_principals.iter().enumerate() {
        c.require(
            admin_principal_ok(a),
            format!("eks.view_principals[{i}]"),
            format!("`{a}` is not an IAM role or user"),
            "write an ARN like arn:aws:iam::123456789012:role/NAME, or role/NAME or user/NAME in the environment's account (not an assumed-role session ARN)",
        );
        c.require(
            !p.eks.admin_principals.contains(a)
                && p.eks.view_principals.iter().filter(|o| *o == a).count() == 1,
            format!("eks.view_principals[{i}]"),
            format!("`{a}` is listed twice (here or in eks.admin_principals)"),
            "list each principal once: an administrator can read already",
        );
    }
    for (i, g) in p.eks.node_groups.iter().enumerate() {
        let key = format!("eks.node_groups[{i}]");
        let label_ok = !g.name.is_empty()
            && g.name.len() <= 20
            && g.name.starts_with(|ch: char| ch.is_ascii_lowercase())
            && g.name
                .chars()
                .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '-');
        c.require(
            label_ok,
            format!("{key}.name"),
            format!("`{}` is not a node group name", g.name),
            "allowed: lowercase letters, digits and `-`, at most 20, starting with a letter",
        );
        c.require(
            p.eks
                .node_groups
                .iter()
                .filter(|o| o.name == g.name)
                .count()
                == 1,
            format!("{key}.name"),
            format!("two node groups are named `{}`", g.name),
            "node group names must be unique",
        );
        c.require(
            !g.instance_types.is_empty(),
            format!("{key}.instance_types"),
            "no instance types",
            "list at least one, e.g. [m6i.large]",
        );
        c.require(
            g.min <= g.desired && g.desired <= g.max,
            format!("{key}.min"),
            format!(
                "min ({}) <= desired ({}) <= max ({}) does not hold",
                g.min, g.desired, g.max
            ),
            "set min <= desired <= max",
        );
        c.require(
            g.max >= 1,
            format!("{key}.max"),
            "max must be at least 1",
            "allowed: 1 or more",
        );
        c.range(g.disk_gib, 20, 1000, &format!("{key}.disk_gib"));
    }

    // queue
    let q = &p.queue;
    c.range(
        q.visibility_timeout_seconds,
        0,
        43_200,
        "queue.visibility_timeout_seconds",
    );
    c.range(
        q.message_retention_seconds,
        60,
        1_209_600,
        "queue.message_retention_seconds",
    );
    c.range(
        q.dlq_max_receive_count,
        1,
        1000,
        "queue.dlq_max_receive_count",
    );
    c.range(
        q.dlq_retention_seconds,
        60,
        1_209_600,
        "queue.dlq_retention_seconds",
    );
    c.require(
        q.visibility_timeout_seconds > p.runtime.drain_timeout_seconds,
        "queue.visibility_timeout_seconds",
        format!(
            "the visibility timeout ({}s) must exceed runtime.drain_timeout_seconds ({}s), or a batch still being drained is handed to a second worker",
            q.visibility_timeout_seconds, p.runtime.drain_timeout_seconds
        ),
        "raise the visibility timeout or lower the drain timeout",
    );

    // storage
    let s = &p.storage;
    c.range(s.expire_after_days, 1, 3650, "storage.expire_after_days");
    c.range(
        s.noncurrent_version_expire_days,
        1,
        3650,
        "storage.noncurrent_version_expire_days",
    );
    let prefix_ok = s.drop_prefix.ends_with('/')
        && s.drop_prefix.len() > 1
        && !s.drop_prefix.starts_with('/')
        && s.drop_prefix
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || matches!(ch, '/' | '-' | '_' | '.'));
    c.require(
        prefix_ok,
        "storage.drop_prefix",
        format!("`{}` is not a key prefix", s.drop_prefix),
        "write it like `drop/` (letters, digits, `-_./`, ending in `/`)",
    );
    for (i, role) in s.producer_roles.iter().enumerate() {
        c.require(
            role_ok(role),
            format!("storage.producer_roles[{i}]"),
            format!("`{role}` is not an IAM role"),
            "write role/NAME (a role in the environment's account) or arn:aws:iam::123456789012:role/NAME (any account); not a user or an assumed-role session ARN",
        );
        c.require(
            s.producer_roles.iter().filter(|o| *o == role).count() == 1,
            format!("storage.producer_roles[{i}]"),
            format!("`{role}` is listed twice"),
            "list each role once",
        );
    }

    // runtime
    let r = &p.runtime;
    c.replicas(r.api.replicas, "runtime.api.replicas", 1);
    c.replicas(r.worker.replicas, "runtime.worker.replicas", 0);
    c.resources(&r.api.resources, "runtime.api.resources");
    c.resources(&r.worker.resources, "runtime.worker.resources");
    c.range(
        r.api.target_cpu_percent,
        10,
        95,
        "runtime.api.target_cpu_percent",
    );
    for (pdb, key) in [
        (r.api.pdb, "runtime.api.pdb"),
        (r.worker.pdb, "runtime.worker.pdb"),
    ] {
        c.require(
            !pdb.enabled || pdb.max_unavailable >= 1,
            format!("{key}.max_unavailable"),
            "a PodDisruptionBudget with max_unavailable 0 blocks every node drain",
            "allowed: 1 or more",
        );
    }
    c.require(
        !r.api.spread_across_zones || r.api.replicas.min as usize >= usize::from(p.network.az_count),
        "runtime.api.replicas.min",
        format!(
            "spread_across_zones needs at least one api replica per zone ({}), but replicas.min is {}",
            p.network.az_count, r.api.replicas.min
        ),
        "raise replicas.min or set spread_across_zones: false",
    );
    c.range(r.api.db_pool_size, 1, 200, "runtime.api.db_pool_size");
    c.range(r.api.read_pool_size, 1, 200, "runtime.api.read_pool_size");
    c.range(
        r.api.rate_limit.per_second,
        0,
        100_000,
        "runtime.api.rate_limit.per_second",
    );
    c.range(
        r.api.rate_limit.burst,
        1,
        1_000_000,
        "runtime.api.rate_limit.burst",
    );
    c.range(r.events.max_attempts, 1, 100, "runtime.events.max_attempts");
    // Events name batches, their sources and first errors; over plain HTTP they (and the
    // signature a replay could reuse within its window) cross the network in clear. On
    // one machine the receiver is on the loopback.
    c.require(
        p.target != Target::Aws
            || !r
                .events
                .webhook_url
                .as_ref()
                .is_some_and(|u| u.is_plain_http()),
        "runtime.events.webhook_url",
        "a webhook of an AWS environment must use https://",
        "give the receiver's https:// URL (plain http:// is for `envctl up local` only)",
    );
    c.range(r.worker.db_pool_size, 1, 200, "runtime.worker.db_pool_size");
    c.range(r.worker.concurrency, 1, 64, "runtime.worker.concurrency");
    c.range(
        r.worker.messages_per_replica,
        1,
        10_000,
        "runtime.worker.messages_per_replica",
    );
    c.range(
        r.worker.polling_interval_seconds,
        5,
        3600,
        "runtime.worker.polling_interval_seconds",
    );
    c.range(
        r.worker.cooldown_seconds,
        0,
        86_400,
        "runtime.worker.cooldown_seconds",
    );
    c.range(
        r.drain_timeout_seconds,
        1,
        3600,
        "runtime.drain_timeout_seconds",
    );
    c.range(r.max_range_days, 1, 3660, "runtime.max_range_days");
    c.require(
        r.max_batch_bytes >= 1 << 20,
        "runtime.max_batch_bytes",
        format!("{} bytes is too small for a batch", r.max_batch_bytes),
        "allowed: at least 1048576 (1 MiB)",
    );
    ingress(&mut c, p);
    review(&mut c, p);

    // observability
    let o = &p.observability;
    let ns_ok = !o.metrics_namespace.is_empty()
        && o.metrics_namespace.len() <= 255
        && !o.metrics_namespace.starts_with("AWS/")
        && o.metrics_namespace.chars().all(|ch| {
            ch.is_ascii_alphanumeric() || matches!(ch, '.' | '-' | '_' | '/' | '#' | ':')
        });
    c.require(
        ns_ok,
        "observability.metrics_namespace",
        format!(
            "`{}` is not a custom CloudWatch namespace",
            o.metrics_namespace
        ),
        "letters, digits and .-_/#:, not starting with AWS/",
    );
    c.require(
        !o.metric_dimensions.contains_key("Environment"),
        "observability.metric_dimensions",
        "`Environment` is set by envctl to the environment's name",
        "remove it from metric_dimensions",
    );
    c.require(
        o.metric_dimensions.len() <= 8,
        "observability.metric_dimensions",
        "too many dimensions",
        "allowed: at most 8 (CloudWatch allows 30, EMF lines stay small)",
    );
    for (i, email) in o.alarm_emails.iter().enumerate() {
        c.require(
            email.contains('@') && !email.contains(char::is_whitespace),
            format!("observability.alarm_emails[{i}]"),
            format!("`{email}` is not an e-mail address"),
            "write it like ops@example.com",
        );
    }

    // alarms
    let a = &p.alarms;
    c.require(
        a.period_seconds == 10
            || a.period_seconds == 30
            || (a.period_seconds >= 60 && a.period_seconds % 60 == 0),
        "alarms.period_seconds",
        format!("{} is not a CloudWatch alarm period", a.period_seconds),
        "allowed: 10, 30, or a multiple of 60",
    );
    c.range(a.evaluation_periods, 1, 100, "alarms.evaluation_periods");
    c.range(
        a.oldest_undelivered_event_seconds,
        60,
        86_400,
        "alarms.oldest_undelivered_event_seconds",
    );
    c.require(
        a.datapoints_to_alarm >= 1 && a.datapoints_to_alarm <= a.evaluation_periods,
        "alarms.datapoints_to_alarm",
        format!(
            "datapoints_to_alarm ({}) must be between 1 and evaluation_periods ({})",
            a.datapoints_to_alarm, a.evaluation_periods
        ),
        "set 1 <= datapoints_to_alarm <= evaluation_periods",
    );
    c.range(a.api_5xx_percent, 0.0, 100.0, "alarms.api_5xx_percent");
    c.range(
        a.database_cpu_percent,
        1.0,
        100.0,
        "alarms.database_cpu_percent",
    );
    c.require(
        a.api_p99_latency_ms > 0.0,
        "alarms.api_p99_latency_ms",
        "must be positive",
        "allowed: milliseconds > 0",
    );
    c.require(
        a.database_free_storage_gib < p.database.allocated_storage_gib,
        "alarms.database_free_storage_gib",
        format!(
            "the free-storage alarm ({} GiB) would fire on a fresh {} GiB database",
            a.database_free_storage_gib, p.database.allocated_storage_gib
        ),
        "set it below database.allocated_storage_gib",
    );
    let nodes_min: u32 = p.eks.node_groups.iter().map(|g| g.min).sum();
    c.require(
        a.min_nodes <= nodes_min,
        "alarms.min_nodes",
        format!("min_nodes ({}) is above the node groups' total minimum ({nodes_min}); the alarm would fire when idle", a.min_nodes),
        "set it at most the sum of eks.node_groups[*].min",
    );

    // deploy: a bake must outlast what the rollback alarms need to see the new release.
    let d = &p.deploy;
    let window = std::time::Duration::from_secs(
        u64::from(a.period_seconds) * u64::from(a.evaluation_periods),
    ) + super::METRIC_DELIVERY_DELAY;
    c.require(
        d.bake.is_zero() || d.bake >= window,
        "deploy.bake",
        format!(
            "a bake of {} ends before the rollback alarms can fire on the new release ({} periods of {}s, plus {} for metric delivery)",
            humantime::format_duration(d.bake),
            a.evaluation_periods,
            a.period_seconds,
            humantime::format_duration(super::METRIC_DELIVERY_DELAY)
        ),
        format!("set it to 0s (no bake) or at least {}", humantime::format_duration(window)),
    );
    c.range(d.keep_releases, 2, 1000, "deploy.keep_releases");

    // tags
    for (k, v) in &p.tags {
        c.require(
            !k.is_empty() && k.len() <= 128 && !k.starts_with("aws:") && v.len() <= 256,
            format!("tags.{k}"),
            format!("`{k}` is not a usable AWS tag"),
            "keys 1-128 characters not starting with aws:, values at most 256",
        );
        c.require(
            !["Project", "Environment", "ManagedBy"].contains(&k.as_str()),
            format!("tags.{k}"),
            format!("`{k}` is set by envctl"),
            "remove it; envctl tags every resource with Project, Environment and ManagedBy",
        );
    }

    c.problems
}
