//! A fake `docker` for tests: records its argv and its environment's names (never values), then
//! plays the container `docker run ... kong:VERSION kong ARGS` as the kongrade stand-in of that
//! version, seeing only the variables `-e NAME` passed through and no `-c` (the connection must
//! come through the environment).

use std::path::{Path, PathBuf};

/// Writes `docker` into `dir` (put it first on PATH); each call appends `ARGV\t...` and
/// `ENV\t...` lines to `log`. `bin` is kongrade's binary (its stand-in plays kong).
pub fn fake_docker(dir: &Path, log: &Path, bin: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let p = dir.join("docker");
    std::fs::write(
        &p,
        format!(
            r#"#!/usr/bin/perl
use strict;
open(my $l, '>>', '{log}') or die;
print $l "ARGV\t", join("\t", @ARGV), "\n";
print $l "ENV\t", join("\t", sort keys %ENV), "\n";
close $l;
my @a = @ARGV;
shift(@a) eq 'run' or die "not docker run";
my %pass;
while (@a) {{
    my $x = shift @a;
    if ($x eq '-e') {{ my $n = shift @a; $pass{{$n}} = $ENV{{$n}} if exists $ENV{{$n}}; }}
    elsif ($x eq '-v' || $x eq '--network') {{ shift @a; }}
    elsif ($x =~ /^-/) {{ }}
    else {{ unshift @a, $x; last; }}
}}
my $image = shift @a;
my ($v) = $image =~ /^kong:(\d+\.\d+\.\d+)$/ or die "image $image";
shift(@a) eq 'kong' or die "no kong after the image";
# The container's kong gets no `-c`: it reaches the database only through the variables passed
# with -e, so a lost one fails the run (kong.conf alone would otherwise connect it).
my @k;
while (@a) {{ my $x = shift @a; if ($x eq '-c') {{ shift @a; }} else {{ push @k, $x; }} }}
%ENV = (%pass, PATH => $ENV{{PATH}});
exec('{bin}', 'stand-in', '--kong-version', $v, @k) or die;
"#,
            log = log.display(),
            bin = bin
        ),
    )
    .unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

/// kongrade (`bin`) with a clean environment: the fake docker's `dir` first on PATH, HOME and
/// `KONGRADE_DATA_DIR` set, and `envs` (a database's `KONG_*`). The tests add the arguments.
pub fn kongrade_with_docker(
    bin: &str,
    dir: &Path,
    data: &Path,
    envs: Vec<(String, String)>,
) -> std::process::Command {
    let mut c = std::process::Command::new(bin);
    c.env_clear()
        .env(
            "PATH",
            format!(
                "{}:{}",
                dir.display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        )
        .env("HOME", std::env::temp_dir())
        .env("KONGRADE_DATA_DIR", data)
        .envs(envs);
    c
}
