//! One kong per Kong version (`--kong-cmd-template`, `--kong-image`): a multi-hop path such as
//! 2.8.5 -> 3.4.2 -> 3.9.3 needs each hop's own kong, so the command line is a template with
//! `{version}` filled in per hop. The database connection travels in the child's environment
//! (Kong's own `KONG_*` variables); `docker run -e NAME` without a value passes a variable
//! through, so no password is ever in argv.

use std::path::Path;

use color_eyre::eyre::{eyre, Result};

use super::runner::KongTarget;
use crate::contract::shell_quote;
use crate::kong::conf::{DatabaseKind, KongConf, Origin, Secret};
use crate::kong::version::Version;

/// What a template must contain: the hop's Kong version goes there.
pub const PLACEHOLDER: &str = "{version}";

/// The `KONG_*` names `--kong-image` passes into the container (each only when set in the
/// docker client's environment, which kongrade fills from the resolved connection).
fn passed_names(db: DatabaseKind) -> &'static [&'static str] {
    match db {
        DatabaseKind::Cassandra => &[
            "KONG_DATABASE",
            "KONG_CASSANDRA_CONTACT_POINTS",
            "KONG_CASSANDRA_PORT",
            "KONG_CASSANDRA_KEYSPACE",
            "KONG_CASSANDRA_USERNAME",
            "KONG_CASSANDRA_PASSWORD",
            "KONG_CASSANDRA_SSL",
            "KONG_CASSANDRA_SSL_VERIFY",
            "KONG_PLUGINS",
        ],
        _ => &[
            "KONG_DATABASE",
            "KONG_PG_HOST",
            "KONG_PG_PORT",
            "KONG_PG_USER",
            "KONG_PG_PASSWORD",
            "KONG_PG_DATABASE",
            "KONG_PG_SCHEMA",
            "KONG_PG_SSL",
            "KONG_PG_SSL_VERIFY",
            "KONG_PG_TIMEOUT",
            "KONG_PLUGINS",
        ],
    }
}

/// The template `--kong-image IMAGE` stands for. `conf` (absolute) is mounted read-only at the
/// same path, so kong's `-c FILE` reads the operator's kong.conf inside the container.
pub fn docker_template(image: &str, db: DatabaseKind, conf: Option<&Path>) -> Result<String> {
    let image = image.trim();
    let last = image.rsplit('/').next().unwrap_or(image);
    if image.is_empty()
        || image
            .chars()
            .any(|c| c.is_whitespace() || c == '{' || c == '}')
    {
        return Err(eyre!(
            "--kong-image {image:?}: give an image name such as kong or kong/kong-gateway"
        ));
    }
    if last.contains(':') || last.contains('@') {
        return Err(eyre!(
            "--kong-image {image}: give the image without a tag or digest; kongrade adds each hop's version ({}:3.4.2, then the next hop's)",
            image.split('@').next().unwrap_or(image).rsplit_once(':').map(|(a, _)| a).unwrap_or(image)
        ));
    }
    let mut t = String::from("docker run --rm --network host");
    for n in passed_names(db) {
        t.push_str(" -e ");
        t.push_str(n);
    }
    if let Some(c) = conf {
        let c = c.display().to_string();
        t.push_str(&format!(" -v {}", shell_quote(&format!("{c}:{c}:ro"))));
    }
    t.push_str(&format!(" {image}:{PLACEHOLDER} kong"));
    Ok(t)
}

/// A kong command line per Kong version, and the environment every one of them gets.
#[derive(Clone, Debug)]
pub struct KongTemplate {
    template: String,
    env: Vec<(String, Secret)>,
}

impl KongTemplate {
    /// Refuses a template without `{version}`, or one that does not split into a command.
    pub fn new(template: &str, env: Vec<(String, Secret)>) -> Result<KongTemplate> {
        if !template.contains(PLACEHOLDER) {
            return Err(eyre!(
                "--kong-cmd-template {template:?} has no {PLACEHOLDER}: each hop of the path runs its own Kong, so the template must say where the hop's version goes (e.g. 'docker run --rm --network host -e KONG_PG_PASSWORD ... kong:{PLACEHOLDER} kong'). For one kong for every step, use --kong-cmd"
            ));
        }
        let t = KongTemplate {
            template: template.to_string(),
            env,
        };
        let sample = t.command_for(Version::new(3, 4, 2));
        match crate::exec::kong_version::split_command(&sample) {
            Ok(argv) if !argv.is_empty() => Ok(t),
            Ok(_) => Err(eyre!("--kong-cmd-template is empty")),
            Err(e) => Err(eyre!("--kong-cmd-template {template:?}: {e}")),
        }
    }

    pub fn template(&self) -> &str {
        &self.template
    }

    /// The command line for Kong `v`.
    pub fn command_for(&self, v: Version) -> String {
        self.template.replace(PLACEHOLDER, &v.to_string())
    }

    /// Kong `v` as a child process, the connection in its environment.
    pub fn kong_for(&self, v: Version) -> KongTarget {
        KongTarget::Process {
            command_line: self.command_for(v),
            env: self.env.clone(),
        }
    }
}

/// Kong's connection settings as its own variables, from the resolved kong.conf (file, `KONG_*`,
/// flags): what a kong in a container, which sees neither the file nor kongrade's flags, needs.
pub fn connection_env(conf: &KongConf) -> Vec<(String, Secret)> {
    let mut env: Vec<(String, Secret)> = Vec::new();
    let mut put = |k: &str, v: String| env.push((k.to_string(), Secret::new(v)));
    let on = |b: bool| if b { "on" } else { "off" }.to_string();
    match conf.database {
        DatabaseKind::Postgres => {
            let pg = &conf.pg;
            put("KONG_DATABASE", "postgres".into());
            put("KONG_PG_HOST", pg.host.clone());
            put("KONG_PG_PORT", pg.port.to_string());
            put("KONG_PG_USER", pg.user.clone());
            if let Some(p) = &pg.password {
                put("KONG_PG_PASSWORD", p.expose().to_string());
            }
            put("KONG_PG_DATABASE", pg.database.clone());
            if let Some(s) = &pg.schema {
                put("KONG_PG_SCHEMA", s.clone());
            }
            put("KONG_PG_SSL", on(pg.ssl));
            put("KONG_PG_SSL_VERIFY", on(pg.ssl_verify));
        }
        DatabaseKind::Cassandra => {
            let c = &conf.cassandra;
            put("KONG_DATABASE", "cassandra".into());
            put("KONG_CASSANDRA_CONTACT_POINTS", c.contact_points.join(","));
            put("KONG_CASSANDRA_PORT", c.port.to_string());
            put("KONG_CASSANDRA_KEYSPACE", c.keyspace.clone());
            put("KONG_CASSANDRA_USERNAME", c.username.clone());
            if let Some(p) = &c.password {
                put("KONG_CASSANDRA_PASSWORD", p.expose().to_string());
            }
            put("KONG_CASSANDRA_SSL", on(c.ssl));
            put("KONG_CASSANDRA_SSL_VERIFY", on(c.ssl_verify));
        }
        DatabaseKind::Off => {}
    }
    // The plugins setting decides which migrations run: the same in every hop's kong.
    if conf
        .origin("plugins")
        .is_some_and(|o| !matches!(o, Origin::Default))
    {
        put("KONG_PLUGINS", conf.plugins.join(","));
    }
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_template_without_version_is_refused_with_the_reason() {
        let e = KongTemplate::new("docker run kong:3.4.2 kong", Vec::new())
            .unwrap_err()
            .to_string();
        assert!(e.contains("has no {version}"), "{e}");
        assert!(e.contains("--kong-cmd"), "{e}");
        assert!(KongTemplate::new("'unterminated {version}", Vec::new()).is_err());
        let t = KongTemplate::new("kong-{version} --x", Vec::new()).unwrap();
        assert_eq!(t.command_for(Version::new(3, 9, 3)), "kong-3.9.3 --x");
    }

    #[test]
    fn the_image_shortcut_passes_names_never_values() {
        let t = docker_template(
            "kong/kong-gateway",
            DatabaseKind::Postgres,
            Some(Path::new("/etc/my kong.conf")),
        )
        .unwrap();
        assert!(t.starts_with("docker run --rm --network host -e KONG_DATABASE -e KONG_PG_HOST -e KONG_PG_PORT -e KONG_PG_USER -e KONG_PG_PASSWORD -e KONG_PG_DATABASE "), "{t}");
        assert!(
            t.contains("-v '/etc/my kong.conf:/etc/my kong.conf:ro'"),
            "{t}"
        );
        assert!(t.ends_with(" kong/kong-gateway:{version} kong"), "{t}");
        assert!(!t.contains('='), "no value in the template: {t}");
        let kt = KongTemplate::new(&t, Vec::new()).unwrap();
        let argv = crate::exec::kong_version::split_command(&kt.command_for(Version::new(3, 4, 2)))
            .unwrap();
        assert!(argv.contains(&"kong/kong-gateway:3.4.2".to_string()));
        // A registry with a port is not a tag; a tag or digest is refused.
        assert!(docker_template("reg:5000/kong", DatabaseKind::Postgres, None).is_ok());
        for bad in ["kong:3.4", "kong@sha256:abc", "", "a b"] {
            assert!(
                docker_template(bad, DatabaseKind::Postgres, None).is_err(),
                "{bad}"
            );
        }
    }
}
