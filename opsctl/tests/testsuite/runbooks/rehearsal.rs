//! The runbooks, rehearsed: every command block of runbooks/*.md, in
//! order, run by the real opsctl binary as written, against the local
//! stack and the AWS emulator, and each block's "how to tell it worked"
//! checked against what the commands printed and how they exited.
//!
//! How a block is rehearsed is said by an HTML comment on the line just
//! before its fence (markdown renderers do not show it):
//!
//! - none: every command exits 0;
//! - `<!-- rehearse: exit 1 -->`: every command exits 1 (`exits 1,0` gives
//!   one code per command);
//! - `shows "TEXT"` (repeatable, `;`-separated): what the last command
//!   prints (stdout or stderr) contains TEXT;
//! - `except COMMAND (REASON)`: the block's `opsctl COMMAND ...` lines are
//!   not run, for the reason given;
//! - `<!-- rehearse: skip (REASON) -->`: not run, for the reason given
//!   (prod-only, or what here cannot stand in for); its lines are still
//!   parsed with the real CLI by `every_command_line_in_the_runbooks_parses_with_the_real_cli`.
//!
//! How a command runs: `--env prod` and `--env dev` as the ops task runs
//! them, inside the VPC (`OPSCTL_IN_VPC=1`): the profile's own settings,
//! with where the data plane is (this test's database, Redis prefix and
//! topics on the local stack) set through the environment as the ops task
//! definition sets them, and AWS at a moto server of the runbook's own.
//! One substitution: a production change gets `--yes`, the answer to the
//! typed confirmation, which needs a terminal this test does not have
//! (`opsctl/src/change.rs` tests the prompt). Each runbook gets a world
//! (`world`): the data and AWS resources its diagnosis looks at, and for
//! an example id in a runbook (a customer's booking) one of its own.

use std::collections::BTreeMap;

use secrecy::ExposeSecret;
use ticketing_catalog::ServiceName;
use ticketing_config::Settings;
use ticketing_e2e::Stack;
use ticketing_testkit::TestEnv;

use crate::common::{self, PrivateMoto, Run};

/// How one block is rehearsed.
#[derive(Debug, Clone, PartialEq)]
pub enum Mark {
    Run {
        exits: Vec<i32>,
        shows: Vec<String>,
        /// Commands (`reserved`, `infra`) of the block not run, with why.
        except: Vec<(String, String)>,
    },
    Skip(String),
}

/// One command of a block: its `VAR=value` prefixes and its words.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    pub number: usize,
    pub vars: Vec<(String, String)>,
    pub words: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Block {
    pub line: usize,
    pub mark: Mark,
    pub commands: Vec<Line>,
    /// Lines of the block that are neither opsctl nor comments.
    pub others: Vec<String>,
}

/// A mark's `;`-separated parts (a reason in parentheses may hold `;`).
fn parts(text: &str) -> Vec<&str> {
    let (mut out, mut depth, mut start) = (Vec::new(), 0, 0);
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ';' if depth == 0 => {
                out.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&text[start..]);
    out
}

fn parse_mark(text: &str) -> Result<Mark, String> {
    let text = text.trim();
    if let Some(reason) = text.strip_prefix("skip") {
        let reason = reason.trim().trim_start_matches('(').trim_end_matches(')');
        return match reason.trim() {
            "" => Err("`skip` needs a reason: skip (WHY)".into()),
            r => Ok(Mark::Skip(r.to_owned())),
        };
    }
    let (mut exits, mut shows, mut except) = (Vec::new(), Vec::new(), Vec::new());
    for part in parts(text)
        .iter()
        .map(|p| p.trim())
        .filter(|p| !p.is_empty())
    {
        if let Some(codes) = part
            .strip_prefix("exits ")
            .or_else(|| part.strip_prefix("exit "))
        {
            for code in codes.split(',') {
                exits.push(code.trim().parse().map_err(|e| format!("`{part}`: {e}"))?);
            }
        } else if let Some(rest) = part.strip_prefix("except ") {
            let (command, reason) = rest
                .split_once('(')
                .ok_or_else(|| format!("`{part}`: except COMMAND (WHY)"))?;
            let reason = reason.trim_end_matches(')').trim();
            if reason.is_empty() {
                return Err(format!("`{part}` needs a reason"));
            }
            except.push((command.trim().to_owned(), reason.to_owned()));
        } else if let Some(quoted) = part.strip_prefix("shows ") {
            shows.push(quoted.trim().trim_matches('"').to_owned());
        } else {
            return Err(format!(
                "`{part}` is not exit N, exits A,B, shows \"TEXT\" or skip (WHY)"
            ));
        }
    }
    Ok(Mark::Run {
        exits,
        shows,
        except,
    })
}

/// The command blocks of a markdown file that run opsctl, with their marks.
pub fn blocks(markdown: &str) -> Result<Vec<Block>, String> {
    let mut out = Vec::new();
    let mut previous = "";
    let mut open: Option<Block> = None;
    // A shell line continued with `\` is one command, numbered where it starts.
    let mut joined: Vec<(usize, String)> = Vec::new();
    let mut continued = false;
    for (i, raw) in markdown.lines().enumerate() {
        let (text, more) = match raw.trim_end().strip_suffix('\\') {
            Some(head) => (head, true),
            None => (raw, false),
        };
        match joined.last_mut() {
            Some((_, line)) if continued => {
                line.push(' ');
                line.push_str(text.trim());
            }
            _ => joined.push((i, text.to_owned())),
        }
        continued = more;
    }
    for (i, raw) in &joined {
        let i = *i;
        let line = raw.trim();
        if line.starts_with("```") {
            match open.take() {
                Some(block) => {
                    if !block.commands.is_empty() {
                        out.push(block);
                    }
                }
                None => {
                    let mark = match previous
                        .strip_prefix("<!-- rehearse:")
                        .and_then(|m| m.strip_suffix("-->"))
                    {
                        Some(m) => parse_mark(m).map_err(|e| format!("line {i}: {e}"))?,
                        None => Mark::Run {
                            exits: Vec::new(),
                            shows: Vec::new(),
                            except: Vec::new(),
                        },
                    };
                    open = Some(Block {
                        line: i + 1,
                        mark,
                        commands: Vec::new(),
                        others: Vec::new(),
                    });
                }
            }
        } else if let Some(block) = open.as_mut() {
            let words = super::words(line);
            let at = words.iter().position(|w| !is_assignment(w));
            match at {
                Some(at) if words[at] == "opsctl" => block.commands.push(Line {
                    number: i + 1,
                    vars: words[..at]
                        .iter()
                        .filter_map(|w| w.split_once('='))
                        .map(|(k, v)| (k.to_owned(), v.to_owned()))
                        .collect(),
                    words: words[at..].to_vec(),
                }),
                _ if line.is_empty() || line.starts_with('#') => {}
                _ => block.others.push(line.to_owned()),
            }
        }
        if !line.is_empty() {
            previous = line;
        }
    }
    Ok(out)
}

fn is_assignment(word: &str) -> bool {
    word.split_once('=').is_some_and(|(k, _)| {
        !k.is_empty()
            && k.bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
    })
}

/// The test's keys, as long as production's settings require (the local
/// profile accepts short placeholders): the platform and opsctl share them.
fn prod_grade(mut env: TestEnv) -> TestEnv {
    let key = || secrecy::SecretString::from(uuid::Uuid::new_v4().simple().to_string().repeat(2));
    env.secrets.jwt_signing_key = key();
    env.secrets.portone_api_key = Some(key());
    env.secrets.portone_api_secret = Some(key());
    env
}

/// What a world stands on: the data plane only, or the platform running
/// on it (its six services and a PortOne sandbox), for the runbooks whose
/// commands call the services (notices, `status`).
enum Ground {
    Data(Box<TestEnv>),
    Platform(Box<Stack>),
}

/// Where a runbook is rehearsed: its own database, prefixes, topics and
/// moto server, and the environment the commands run with.
pub struct World {
    ground: Ground,
    pub moto: PrivateMoto,
    pub vars: BTreeMap<String, String>,
    /// A runbook's example value (an id of a customer's booking) and what
    /// stands for it in this world.
    pub examples: BTreeMap<String, String>,
    _audit: common::TempAudit,
}

impl World {
    /// The data plane (migrated, topics made), no service running.
    pub async fn new() -> World {
        let env = prod_grade(TestEnv::new().await);
        env.create_topics().await;
        ticketing_platform::migrate_all(&env.settings, &env.secrets, &ServiceName::ALL)
            .await
            .expect("migrate");
        let settings = env.settings.clone();
        World::on(Ground::Data(Box::new(env)), &settings).await
    }

    /// The data plane with `kafka` for its brokers (a private cluster),
    /// the catalog topics made there with `replication`, no service running.
    pub async fn on_kafka(
        env: TestEnv,
        kafka: ticketing_config::KafkaSettings,
        replication: i32,
    ) -> World {
        let env = prod_grade(env);
        let mut settings = env.settings.clone();
        settings.kafka = kafka;
        // Just started: a broker may not be registered yet.
        let mut made = Err(String::new());
        for _ in 0..60 {
            made = ticketing_kafka::ensure_topics(
                &settings.kafka,
                &ticketing_catalog::topics::ALL,
                ticketing_catalog::topics::MVP_PARTITIONS,
                replication,
            )
            .await
            .map_err(|e| e.to_string());
            if made.is_ok() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        }
        made.unwrap_or_else(|e| panic!("the cluster's topics: {e}"));
        ticketing_platform::migrate_all(&settings, &env.secrets, &ServiceName::ALL)
            .await
            .expect("migrate");
        World::on(Ground::Data(Box::new(env)), &settings).await
    }

    /// The platform running on the data plane.
    pub async fn with_platform() -> World {
        let env = prod_grade(TestEnv::new().await);
        env.create_topics().await;
        let settings = env.settings.clone();
        let stack = Stack::start_with(env, settings).await;
        let settings = stack.settings.clone();
        World::on(Ground::Platform(Box::new(stack)), &settings).await
    }

    pub fn env(&self) -> &TestEnv {
        match &self.ground {
            Ground::Data(env) => env,
            Ground::Platform(stack) => &stack.env,
        }
    }

    async fn on(ground: Ground, s: &Settings) -> World {
        let moto = PrivateMoto::start().await;
        let audit = common::temp_audit_log("rehearsal");
        let ca = s
            .stack
            .as_ref()
            .expect("local settings have [stack]")
            .postgres_ca();
        let secrets = match &ground {
            Ground::Data(env) => &env.secrets,
            Ground::Platform(stack) => &stack.env.secrets,
        };
        let secret = |v: &Option<secrecy::SecretString>| {
            v.as_ref()
                .map(|v| v.expose_secret().to_owned())
                .unwrap_or_else(|| "rehearsal".to_owned())
        };
        let mut vars: BTreeMap<String, String> = [
            ("AWS_ACCESS_KEY_ID", "testing".to_owned()),
            ("AWS_SECRET_ACCESS_KEY", "testing".to_owned()),
            ("AWS_ENDPOINT_URL", moto.url.clone()),
            ("OPSCTL_LOCK_WAIT", "1m".to_owned()),
            ("OPSCTL_AUDIT_LOG", audit.display().to_string()),
            (ticketing_catalog::ecs::OPS_IN_VPC_VAR, "1".to_owned()),
            ("TICKETING__DATABASE__HOST", s.database.host.clone()),
            ("TICKETING__DATABASE__PORT", s.database.port.to_string()),
            ("TICKETING__DATABASE__NAME", s.database.name.clone()),
            ("TICKETING__DATABASE__USER", s.database.user.clone()),
            (
                "TICKETING__DATABASE__SSL_ROOT_CERT",
                ca.display().to_string(),
            ),
            ("TICKETING__REDIS__URL", s.redis.url.to_string()),
            ("TICKETING__REDIS__KEY_PREFIX", s.redis.key_prefix.clone()),
            (
                "TICKETING__KAFKA__BOOTSTRAP_SERVERS",
                s.kafka.bootstrap_servers.clone(),
            ),
            (
                "TICKETING__KAFKA__TOPIC_PREFIX",
                s.kafka.topic_prefix.clone(),
            ),
            (
                "TICKETING__PORTONE__BASE_URL",
                s.portone.base_url.to_string(),
            ),
            (
                "TICKETING_DATABASE_PASSWORD",
                secret(&secrets.database_password),
            ),
            (
                ticketing_catalog::secrets::JWT_SIGNING_KEY,
                secrets.jwt_signing_key.expose_secret().to_owned(),
            ),
            ("PORTONE_API_KEY", secret(&secrets.portone_api_key)),
            ("PORTONE_API_SECRET", secret(&secrets.portone_api_secret)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        // Where the services answer (in the VPC, their service discovery
        // names; here, the ports the platform bound).
        for service in ServiceName::ALL {
            vars.insert(
                format!(
                    "TICKETING__SERVICES__{}__URL",
                    service.as_str().replace('-', "_").to_uppercase()
                ),
                s.services.endpoint(service).url.to_string(),
            );
        }
        World {
            ground,
            moto,
            vars,
            examples: BTreeMap::new(),
            _audit: audit,
        }
    }

    /// Runs one command line as the rehearsal runs it.
    pub async fn run(&self, line: &Line) -> Run {
        let mut args: Vec<String> = line.words[1..]
            .iter()
            .map(|w| self.examples.get(w).unwrap_or(w).clone())
            .collect();
        let prod = args.windows(2).any(|w| w[0] == "--env" && w[1] == "prod");
        if prod && args.iter().any(|a| a == "--execute") && !args.iter().any(|a| a == "--yes") {
            args.push("--yes".into());
        }
        let mut vars: Vec<(&str, &str)> = self
            .vars
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        // A placeholder value (`NAME=...`) stands for what the world gives.
        let given: Vec<(String, String)> = line
            .vars
            .iter()
            .map(|(k, v)| {
                let example = format!("{k}={v}");
                (k.clone(), self.examples.get(&example).unwrap_or(v).clone())
            })
            .collect();
        vars.extend(given.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        tokio::time::timeout(
            std::time::Duration::from_secs(600),
            common::opsctl(&args, &vars),
        )
        .await
        .unwrap_or_else(|_| {
            panic!(
                "line {}: {:?} did not end within 10 minutes",
                line.number, line.words
            )
        })
    }

    pub async fn cleanup(self) {
        match self.ground {
            Ground::Data(env) => (*env).cleanup().await,
            Ground::Platform(stack) => stack.stop().await,
        }
    }
}

/// Rehearses `name` (a runbook, or a README: its path from the repository
/// root when not under runbooks/) in `world`: every block in order; the
/// failures, each with its line and what the command printed.
pub async fn rehearse(name: &str, world: &World) -> (usize, Vec<String>) {
    let path = match name.contains('/') {
        true => super::repo().join(name),
        false => super::repo().join("runbooks").join(name),
    };
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
    let blocks = blocks(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
    let (mut ran, mut failures) = (0, Vec::new());
    for block in blocks {
        let (exits, shows, except) = match &block.mark {
            Mark::Skip(_) => continue,
            Mark::Run {
                exits,
                shows,
                except,
            } => (exits, shows, except),
        };
        // The command word: the first after the global flags.
        let excepted = |line: &Line| {
            let command = line.words[1..]
                .iter()
                .scan(false, |value, w| {
                    let skip = *value || w.starts_with("--");
                    *value = matches!(w.as_str(), "--env" | "--output" | "--region");
                    Some((skip, w))
                })
                .find(|(skip, _)| !skip)
                .map(|(_, w)| w.as_str());
            except.iter().any(|(c, _)| Some(c.as_str()) == command)
        };
        let commands: Vec<&Line> = block.commands.iter().filter(|l| !excepted(l)).collect();
        if !block.others.is_empty() {
            failures.push(format!(
                "{name}:{}: the block runs {:?} beside opsctl: rehearse it as opsctl commands or mark it skip (WHY)",
                block.line, block.others
            ));
            continue;
        }
        if exits.len() > 1 && exits.len() != commands.len() {
            failures.push(format!(
                "{name}:{}: `exits` gives {} codes for {} commands run",
                block.line,
                exits.len(),
                commands.len()
            ));
            continue;
        }
        let mut last = None;
        for (i, line) in commands.into_iter().enumerate() {
            let run = world.run(line).await;
            ran += 1;
            // What each command printed, shown when the test fails.
            eprintln!(
                "{name}:{} `{}` -> {}\n{}{}",
                line.number,
                line.words.join(" "),
                run.code,
                run.stdout,
                run.stderr
            );
            let want = match exits.len() {
                0 => 0,
                1 => exits[0],
                _ => exits[i],
            };
            if run.code != want {
                failures.push(format!(
                    "{name}:{}: `{}` exited {} (the runbook says {want})\n--- stdout\n{}--- stderr\n{}",
                    line.number,
                    line.words.join(" "),
                    run.code,
                    run.stdout,
                    run.stderr
                ));
            }
            last = Some((line, run));
        }
        if let Some((line, run)) = last {
            let said = format!("{}{}", run.stdout, run.stderr);
            for text in shows {
                if !said.contains(text.as_str()) {
                    failures.push(format!(
                        "{name}:{}: `{}` does not show {text:?}\n{said}",
                        line.number,
                        line.words.join(" ")
                    ));
                }
            }
        }
    }
    (ran, failures)
}

#[test]
fn marks_say_how_a_block_is_rehearsed() {
    let md = "text\n<!-- rehearse: exits 1,0; shows \"CHANGE\" -->\n```bash\nopsctl a\nX=1 \\\n  opsctl b --c 'd e'\n```\n\n<!-- rehearse: skip (prod only) -->\n```bash\nopsctl c\n```\n```bash\naws s3 ls\nopsctl d\n```\n";
    let b = blocks(md).expect("parses");
    assert_eq!(b.len(), 3);
    assert_eq!(
        b[0].mark,
        Mark::Run {
            exits: vec![1, 0],
            shows: vec!["CHANGE".into()],
            except: Vec::new(),
        }
    );
    assert_eq!(b[0].commands[1].vars, vec![("X".into(), "1".into())]);
    assert_eq!(b[0].commands[1].words, ["opsctl", "b", "--c", "d e"]);
    assert_eq!(b[1].mark, Mark::Skip("prod only".into()));
    assert_eq!(b[2].others, ["aws s3 ls"]);
    assert!(blocks("<!-- rehearse: skip -->\n```\nopsctl a\n```\n").is_err());
    let b = blocks("<!-- rehearse: except reserved (no offerings) -->\n```\nopsctl a\n```\n")
        .expect("parses");
    assert!(
        matches!(&b[0].mark, Mark::Run { except, .. } if except == &[("reserved".to_owned(), "no offerings".to_owned())])
    );
    assert!(blocks("<!-- rehearse: exit one -->\n```\nopsctl a\n```\n").is_err());
}
