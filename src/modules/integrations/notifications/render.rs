//! The sandbox templates are checked and rendered in: minijinja with strict undefined
//! variables, no loader (and no `include`, `import` or `extends`: the engine is built
//! without them), a fuel budget per part that aborts runaway loops and recursion, HTML
//! escaping in the HTML part, and caps on a part's size at save time and on what it
//! renders to. Every failure is a [`FieldError`] naming the part and the line.

use std::collections::BTreeMap;

use chrono::DateTime;
use chrono::format::StrftimeItems;
use chrono_tz::Tz;
use minijinja::{AutoEscape, Environment, Error, ErrorKind, State, UndefinedBehavior, Value};

use super::keys::{Channel, KeySpec};
use crate::platform::error::FieldError;

/// The longest a part of a template may be, in characters.
pub const MAX_PART_CHARS: usize = 20_000;
/// The longest a rendered text or HTML part may be, in characters.
pub const MAX_RENDERED_CHARS: usize = 100_000;
/// The longest a rendered subject may be (a mail header line stays under 998 bytes).
pub const MAX_SUBJECT_CHARS: usize = 400;
/// The longest a rendered SMS may be: ten concatenated segments.
pub const MAX_SMS_CHARS: usize = 1_530;
/// The work one part's render may do: about one unit per instruction or per 64 bytes
/// of data made (see minijinja's `Environment::set_fuel`). The defaults use a few
/// hundred; a loop of a million does not fit.
pub const FUEL: u64 = 50_000;
/// How deep macros and blocks may nest (minijinja caps this at 500 without stacker).
const RECURSION_LIMIT: usize = 100;
/// Names a template may use besides its key's variables: the engine's globals.
const GLOBALS: &[&str] = &["range", "dict", "namespace"];
/// The formats `datetime` knows by name; any other format is a chrono strftime pattern.
const NAMED_FORMATS: &[(&str, &str)] = &[
    ("long", "%A, %-d %B %Y, %H:%M %Z"),
    ("short", "%Y-%m-%d %H:%M"),
    ("date", "%Y-%m-%d"),
    ("time", "%H:%M"),
];
const DEFAULT_FORMAT: &str = "long";
const MAX_FORMAT_CHARS: usize = 100;

/// A part of a template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Subject,
    Text,
    Html,
}

impl Part {
    /// Its field name in requests and answers; also its template name, which decides
    /// escaping (HTML only in `html`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Subject => "subject",
            Self::Text => "text",
            Self::Html => "html",
        }
    }

    fn max_rendered(self, channel: Channel) -> usize {
        match (self, channel) {
            (Self::Subject, _) => MAX_SUBJECT_CHARS,
            (_, Channel::Sms) => MAX_SMS_CHARS,
            _ => MAX_RENDERED_CHARS,
        }
    }
}

/// The parts of a template, borrowed.
#[derive(Debug, Clone, Copy)]
pub struct Parts<'a> {
    pub subject: Option<&'a str>,
    pub text: &'a str,
    pub html: Option<&'a str>,
}

impl<'a> Parts<'a> {
    fn each(self) -> impl Iterator<Item = (Part, &'a str)> {
        [
            self.subject.map(|source| (Part::Subject, source)),
            Some((Part::Text, self.text)),
            self.html.map(|source| (Part::Html, source)),
        ]
        .into_iter()
        .flatten()
    }
}

/// What a template rendered to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: Option<String>,
    pub text: String,
    pub html: Option<String>,
}

/// Variable values by dotted path (`contact.first_name`), all strings.
pub type Variables = BTreeMap<String, String>;

/// The sample values of `spec`'s variables, with `tz` set to `time_zone`.
pub fn sample_variables(spec: &KeySpec, time_zone: &str) -> Variables {
    spec.variables()
        .map(|variable| {
            let value = match variable.path {
                "tz" => time_zone,
                _ => variable.sample,
            };
            (variable.path.to_owned(), value.to_owned())
        })
        .collect()
}

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_fuel(Some(FUEL));
    env.set_recursion_limit(RECURSION_LIMIT);
    env.set_auto_escape_callback(|name| match name {
        "html" => AutoEscape::Html,
        _ => AutoEscape::None,
    });
    env.add_filter("datetime", datetime);
    env
}

/// Checks a template before it is saved: each part's size and syntax, the variables
/// it uses against those `spec` offers (each unknown one named), and a trial render
/// with the sample values (which catches what the static check cannot see: a
/// variable looked up by subscript, an unknown filter, a runaway loop). Every problem
/// of every part is listed.
pub fn check(spec: &KeySpec, channel: Channel, parts: Parts<'_>) -> Result<(), Vec<FieldError>> {
    let env = environment();
    let mut errors = Vec::new();
    for (part, source) in parts.each() {
        let length = source.chars().count();
        if length == 0 || length > MAX_PART_CHARS {
            errors.push(FieldError::new(
                part.name(),
                format!("must be 1 to {MAX_PART_CHARS} characters (it has {length})"),
            ));
            continue;
        }
        let template = match env.template_from_named_str(part.name(), source) {
            Ok(template) => template,
            Err(err) => {
                errors.push(FieldError::new(part.name(), describe(&err)));
                continue;
            }
        };
        let mut unknown: Vec<String> = template
            .undeclared_variables(true)
            .into_iter()
            .filter(|name| !GLOBALS.contains(&name.as_str()) && !spec.offers(name))
            .collect();
        unknown.sort();
        for name in unknown {
            errors.push(FieldError::new(
                part.name(),
                format!(
                    "unknown variable `{name}`: `{}` offers {}",
                    spec.key.name(),
                    offered(spec)
                ),
            ));
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let samples = sample_variables(spec, "UTC");
    render(channel, parts, &samples).map(drop)
}

/// The variables `spec` offers, as an error message lists them.
fn offered(spec: &KeySpec) -> String {
    spec.variables()
        .map(|variable| format!("`{}`", variable.path))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Renders each part with `variables`; a part that fails (undefined value, fuel spent,
/// output too large) is an error naming it and the line.
pub fn render(
    channel: Channel,
    parts: Parts<'_>,
    variables: &Variables,
) -> Result<Rendered, Vec<FieldError>> {
    let env = environment();
    let context = context(variables);
    let mut errors = Vec::new();
    let mut rendered = Rendered {
        subject: None,
        text: String::new(),
        html: None,
    };
    for (part, source) in parts.each() {
        let output = env
            .template_from_named_str(part.name(), source)
            .and_then(|template| template.render(context.clone()));
        let output = match output {
            Ok(output) => output,
            Err(err) => {
                errors.push(FieldError::new(part.name(), describe(&err)));
                continue;
            }
        };
        let output = match part {
            // One line: a subject is a mail header.
            Part::Subject => output.split_whitespace().collect::<Vec<_>>().join(" "),
            _ => output,
        };
        let length = output.chars().count();
        let max = part.max_rendered(channel);
        if length > max {
            errors.push(FieldError::new(
                part.name(),
                format!("renders to {length} characters, more than {max}"),
            ));
            continue;
        }
        match part {
            Part::Subject => rendered.subject = Some(output),
            Part::Text => rendered.text = output,
            Part::Html => rendered.html = Some(output),
        }
    }
    if errors.is_empty() {
        Ok(rendered)
    } else {
        Err(errors)
    }
}

/// An engine error as a client reads it: the line, what went wrong, and no more (no
/// source dump, no internals).
fn describe(err: &Error) -> String {
    let what = match err.kind() {
        ErrorKind::OutOfFuel => {
            "the template does too much work (a loop or recursion too large) and was stopped"
                .to_owned()
        }
        ErrorKind::SyntaxError => match err.detail() {
            Some(detail) => format!("syntax error: {detail}"),
            None => "syntax error".to_owned(),
        },
        kind => match err.detail() {
            Some(detail) => format!("{kind}: {detail}"),
            None => kind.to_string(),
        },
    };
    match err.line() {
        Some(line) => format!("line {line}: {what}"),
        None => what,
    }
}

/// The render context: the dotted paths as nested maps of strings.
fn context(variables: &Variables) -> Value {
    #[derive(Default)]
    struct Node {
        value: Option<String>,
        children: BTreeMap<String, Node>,
    }
    fn into_value(node: Node) -> Value {
        match node.value {
            Some(value) if node.children.is_empty() => Value::from(value),
            _ => Value::from_pairs(
                node.children
                    .into_iter()
                    .map(|(name, child)| (name, into_value(child))),
            ),
        }
    }
    let mut root = Node::default();
    for (path, value) in variables {
        let node = path.split('.').fold(&mut root, |node, segment| {
            node.children.entry(segment.to_owned()).or_default()
        });
        node.value = Some(value.clone());
    }
    into_value(root)
}

/// `{{ instant | datetime(tz, format) }}`: an RFC 3339 instant in the IANA time zone
/// `tz` (default: the `tz` variable, else UTC), formatted as `format`: `long` (the
/// default, `Monday, 1 June 2026, 16:30 CEST`), `short` (`2026-06-01 16:30`), `date`,
/// `time`, or a chrono strftime pattern.
fn datetime(
    state: &State,
    value: &str,
    tz: Option<&str>,
    format: Option<&str>,
) -> Result<String, Error> {
    let instant = DateTime::parse_from_rfc3339(value).map_err(|_| {
        Error::new(
            ErrorKind::InvalidOperation,
            format!("datetime: {value:?} is not an RFC 3339 instant"),
        )
    })?;
    let from_context = state.lookup("tz");
    let zone_name = tz
        .or_else(|| from_context.as_ref().and_then(Value::as_str))
        .unwrap_or("UTC");
    let zone: Tz = zone_name.parse().map_err(|_| {
        Error::new(
            ErrorKind::InvalidOperation,
            format!("datetime: {zone_name:?} is not an IANA time zone"),
        )
    })?;
    let format = format.unwrap_or(DEFAULT_FORMAT);
    let pattern = NAMED_FORMATS
        .iter()
        .find(|(name, _)| *name == format)
        .map_or(format, |(_, pattern)| pattern);
    let invalid = || {
        Error::new(
            ErrorKind::InvalidOperation,
            format!(
                "datetime: {format:?} is neither long, short, date, time nor a strftime pattern"
            ),
        )
    };
    if pattern.chars().count() > MAX_FORMAT_CHARS {
        return Err(invalid());
    }
    // Checked first: formatting with an invalid pattern would fail inside Display.
    let items = StrftimeItems::new(pattern).parse().map_err(|_| invalid())?;
    Ok(instant
        .with_timezone(&zone)
        .format_with_items(items.into_iter())
        .to_string())
}

/// Whether `name` is an IANA time zone the `datetime` filter knows.
pub fn is_time_zone(name: &str) -> bool {
    name.parse::<Tz>().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::integrations::notifications::keys::{
        DEFAULTS, KEYS, TemplateKey, default_for,
    };

    fn spec() -> &'static KeySpec {
        TemplateKey::ViewingConfirmation.spec()
    }

    fn sms(text: &str) -> Parts<'_> {
        Parts {
            subject: None,
            text,
            html: None,
        }
    }

    fn messages(errors: &[FieldError]) -> String {
        errors
            .iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn the_key_table_follows_the_enum() {
        for (index, spec) in KEYS.iter().enumerate() {
            assert_eq!(spec.key as usize, index);
            assert_eq!(TemplateKey::parse(spec.key.name()), Some(spec.key));
            for channel in spec.channels {
                assert!(default_for(spec.key, *channel).is_some(), "{:?}", spec.key);
            }
        }
    }

    #[test]
    fn every_default_uses_only_its_keys_variables_and_renders_with_the_samples() {
        for default in DEFAULTS {
            let spec = default.key.spec();
            assert!(spec.has_channel(default.channel));
            let parts = Parts {
                subject: default.subject,
                text: default.text,
                html: default.html,
            };
            if let Err(errors) = check(spec, default.channel, parts) {
                panic!(
                    "{:?}/{:?}: {}",
                    default.key,
                    default.channel,
                    messages(&errors)
                );
            }
            let rendered = render(
                default.channel,
                parts,
                &sample_variables(spec, "Europe/Zurich"),
            )
            .expect("renders");
            assert!(!rendered.text.contains("{{"), "{}", rendered.text);
        }
    }

    #[test]
    fn variables_the_key_does_not_offer_are_named() {
        let errors = check(
            spec(),
            Channel::Sms,
            sms("Hi {{ contact.first_name }} {{ contact.nickname }} {{ secret }}"),
        )
        .expect_err("refused");
        let text = messages(&errors);
        assert_eq!(errors.len(), 2, "{text}");
        assert!(text.contains("`contact.nickname`"), "{text}");
        assert!(text.contains("`secret`"), "{text}");
        assert!(errors.iter().all(|e| e.field == "text"));
    }

    #[test]
    fn a_syntax_error_names_its_part_and_line() {
        let parts = Parts {
            subject: Some("Fine"),
            text: "one\ntwo\n{% if %}",
            html: None,
        };
        let errors = check(spec(), Channel::Email, parts).expect_err("refused");
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].field, "text");
        assert!(
            errors[0].message.starts_with("line 3: syntax error"),
            "{}",
            errors[0].message
        );
    }

    #[test]
    fn includes_and_imports_do_not_exist() {
        for source in [
            "{% include 'x' %}",
            "{% import 'x' as y %}",
            "{% extends 'x' %}",
        ] {
            assert!(
                check(spec(), Channel::Sms, sms(source)).is_err(),
                "{source}"
            );
        }
    }

    #[test]
    fn runaway_loops_and_recursion_are_stopped() {
        for source in [
            "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}",
            "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}",
            "{{ 'x' * 100000000 }}",
        ] {
            let errors = render(Channel::Sms, sms(source), &Variables::new()).expect_err("stopped");
            assert_eq!(errors[0].field, "text", "{source}");
        }
        let errors = render(
            Channel::Sms,
            sms(
                "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}",
            ),
            &Variables::new(),
        )
        .expect_err("stopped");
        assert!(
            errors[0].message.contains("too much work"),
            "{}",
            messages(&errors)
        );
    }

    #[test]
    fn html_is_escaped_in_the_html_part_only() {
        let mut variables = sample_variables(spec(), "UTC");
        variables.insert("contact.first_name".into(), "<b>Ada</b>".into());
        let parts = Parts {
            subject: Some("{{ contact.first_name }}"),
            text: "{{ contact.first_name }}",
            html: Some("<p>{{ contact.first_name }}</p>"),
        };
        let rendered = render(Channel::Email, parts, &variables).expect("renders");
        assert_eq!(rendered.text, "<b>Ada</b>");
        assert_eq!(
            rendered.html.as_deref(),
            Some("<p>&lt;b&gt;Ada&lt;&#x2f;b&gt;</p>")
        );
    }

    #[test]
    fn datetime_formats_in_the_tenants_zone() {
        let mut variables = sample_variables(spec(), "Europe/Zurich");
        variables.insert("viewing.scheduled_at".into(), "2026-06-01T14:30:00Z".into());
        let source = "{{ viewing.scheduled_at | datetime(tz) }}|{{ viewing.scheduled_at | datetime('America/New_York', 'short') }}|{{ viewing.scheduled_at | datetime }}";
        let rendered = render(Channel::Sms, sms(source), &variables).expect("renders");
        assert_eq!(
            rendered.text,
            "Monday, 1 June 2026, 16:30 CEST|2026-06-01 10:30|Monday, 1 June 2026, 16:30 CEST"
        );
        for bad in [
            "{{ viewing.scheduled_at | datetime('Mars/Olympus') }}",
            "{{ viewing.scheduled_at | datetime(tz, '%Q') }}",
            "{{ contact.first_name | datetime(tz) }}",
        ] {
            assert!(render(Channel::Sms, sms(bad), &variables).is_err(), "{bad}");
        }
    }

    #[test]
    fn output_and_parts_are_capped() {
        let long = "x".repeat(MAX_PART_CHARS + 1);
        assert!(check(spec(), Channel::Sms, sms(&long)).is_err());
        let errors = render(
            Channel::Sms,
            sms("{% for i in range(200) %}0123456789{% endfor %}"),
            &Variables::new(),
        )
        .expect_err("too long for an SMS");
        assert!(
            errors[0].message.contains("more than 1530"),
            "{}",
            messages(&errors)
        );
    }
}
