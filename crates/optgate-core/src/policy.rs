//! The policy: what the config file says, and the resolved form the stages use.

use serde::{Deserialize, Serialize};

/// How rule 7 (`opted_out`) decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentMode {
    /// Keep every author who is not in the objection registry (GDPR art. 21 objection).
    #[default]
    OptOut,
    /// Keep only authors with a consent that is not withdrawn (opt-in); an
    /// objection, when an objection registry is also given, still removes the author.
    Consent,
}

/// A (platform, kind) pair that is out of scope whatever its visibility.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Surface {
    pub platform: String,
    pub kind: String,
}

/// The `[policy]` table of a config file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    /// Rule 7: `opt_out` (default) or `consent`.
    #[serde(default)]
    pub mode: ConsentMode,
    /// Rule 3: the author must have reached this age on the UTC date of the post.
    #[serde(default = "default_min_age")]
    pub min_age_years: u16,
    /// Rule 4: kinds that are private messages, whatever their visibility label.
    #[serde(default = "default_private_kinds")]
    pub private_kinds: Vec<String>,
    /// Rule 5: surfaces declared out of scope.
    #[serde(default = "default_excluded_surfaces")]
    pub excluded_surfaces: Vec<Surface>,
    /// Rule 6: visibilities that count as public.
    #[serde(default = "default_public_visibilities")]
    pub public_visibilities: Vec<String>,
    /// Rule 6: kinds that may be kept whatever their visibility.
    #[serde(default = "default_public_exempt_kinds")]
    pub public_exempt_kinds: Vec<String>,
}

fn default_min_age() -> u16 {
    18
}
fn default_private_kinds() -> Vec<String> {
    vec!["private_message".into()]
}
fn default_excluded_surfaces() -> Vec<Surface> {
    vec![Surface {
        platform: "whatsapp".into(),
        kind: "ai_interaction".into(),
    }]
}
fn default_public_visibilities() -> Vec<String> {
    vec!["public".into()]
}
fn default_public_exempt_kinds() -> Vec<String> {
    vec!["business_message".into(), "ai_interaction".into()]
}

impl Default for PolicyConfig {
    fn default() -> Self {
        PolicyConfig {
            mode: ConsentMode::default(),
            min_age_years: default_min_age(),
            private_kinds: default_private_kinds(),
            excluded_surfaces: default_excluded_surfaces(),
            public_visibilities: default_public_visibilities(),
            public_exempt_kinds: default_public_exempt_kinds(),
        }
    }
}

/// A problem with the policy table.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PolicyError {
    #[error("policy.min_age_years must be between 1 and 150, got {0}")]
    MinAge(u16),
    #[error("policy.{field} contains an empty label")]
    EmptyLabel { field: &'static str },
    #[error("policy.public_visibilities is empty: no post could ever be kept")]
    NoPublicVisibility,
}

/// `label.trim()`, without decoding characters from either end when the
/// label starts and ends with a visible ASCII character, as nearly every
/// label does (the rules test each post's kind three times: a Unicode trim
/// each time was a percent of a run).
#[inline]
fn trim_label(label: &str) -> &str {
    match label.as_bytes() {
        [first, .., last] if first.is_ascii_graphic() && last.is_ascii_graphic() => label,
        [only] if only.is_ascii_graphic() => label,
        _ => label.trim(),
    }
}

/// Labels (kinds, platforms, visibilities) compared trimmed and ASCII
/// case-insensitively, so that `"Private_Message "` is still a private message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelSet(Vec<String>);

impl LabelSet {
    fn new(field: &'static str, labels: &[String]) -> Result<Self, PolicyError> {
        let mut out: Vec<String> = Vec::with_capacity(labels.len());
        for l in labels {
            let l = l.trim().to_ascii_lowercase();
            if l.is_empty() {
                return Err(PolicyError::EmptyLabel { field });
            }
            if !out.contains(&l) {
                out.push(l);
            }
        }
        Ok(LabelSet(out))
    }

    #[inline]
    pub fn contains(&self, label: &str) -> bool {
        let label = trim_label(label);
        self.0.iter().any(|l| l.eq_ignore_ascii_case(label))
    }

    pub fn labels(&self) -> &[String] {
        &self.0
    }
}

/// The policy the stages apply, validated and normalised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub mode: ConsentMode,
    pub min_age_years: u16,
    pub private_kinds: LabelSet,
    /// (platform, kind) pairs, normalised to lower case.
    pub excluded_surfaces: Vec<(String, String)>,
    pub public_visibilities: LabelSet,
    pub public_exempt_kinds: LabelSet,
}

impl Policy {
    pub fn resolve(config: &PolicyConfig) -> Result<Policy, PolicyError> {
        if !(1..=150).contains(&config.min_age_years) {
            return Err(PolicyError::MinAge(config.min_age_years));
        }
        let public_visibilities =
            LabelSet::new("public_visibilities", &config.public_visibilities)?;
        if public_visibilities.0.is_empty() {
            return Err(PolicyError::NoPublicVisibility);
        }
        let mut excluded_surfaces = Vec::new();
        for s in &config.excluded_surfaces {
            let platform = s.platform.trim().to_ascii_lowercase();
            let kind = s.kind.trim().to_ascii_lowercase();
            if platform.is_empty() || kind.is_empty() {
                return Err(PolicyError::EmptyLabel {
                    field: "excluded_surfaces",
                });
            }
            if !excluded_surfaces.contains(&(platform.clone(), kind.clone())) {
                excluded_surfaces.push((platform, kind));
            }
        }
        Ok(Policy {
            mode: config.mode,
            min_age_years: config.min_age_years,
            private_kinds: LabelSet::new("private_kinds", &config.private_kinds)?,
            excluded_surfaces,
            public_visibilities,
            public_exempt_kinds: LabelSet::new("public_exempt_kinds", &config.public_exempt_kinds)?,
        })
    }

    /// The resolved policy in the config's own shape, for the manifest.
    pub fn to_config(&self) -> PolicyConfig {
        PolicyConfig {
            mode: self.mode,
            min_age_years: self.min_age_years,
            private_kinds: self.private_kinds.0.clone(),
            excluded_surfaces: self
                .excluded_surfaces
                .iter()
                .map(|(platform, kind)| Surface {
                    platform: platform.clone(),
                    kind: kind.clone(),
                })
                .collect(),
            public_visibilities: self.public_visibilities.0.clone(),
            public_exempt_kinds: self.public_exempt_kinds.0.clone(),
        }
    }

    #[inline]
    pub fn is_excluded_surface(&self, platform: &str, kind: &str) -> bool {
        let (platform, kind) = (trim_label(platform), trim_label(kind));
        self.excluded_surfaces
            .iter()
            .any(|(p, k)| p.eq_ignore_ascii_case(platform) && k.eq_ignore_ascii_case(kind))
    }
}

/// Column names of the posts table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PostColumnNames {
    pub post_id: String,
    pub author_id: String,
    pub created_at: String,
    pub platform: String,
    pub kind: String,
    pub visibility: String,
    pub text: String,
    pub lang: String,
}

impl Default for PostColumnNames {
    fn default() -> Self {
        PostColumnNames {
            post_id: "post_id".into(),
            author_id: "author_id".into(),
            created_at: "created_at".into(),
            platform: "platform".into(),
            kind: "kind".into(),
            visibility: "visibility".into(),
            text: "text".into(),
            lang: "lang".into(),
        }
    }
}

/// Column names of the accounts table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AccountColumnNames {
    pub user_id: String,
    pub birth_date: String,
    pub country: String,
}

impl Default for AccountColumnNames {
    fn default() -> Self {
        AccountColumnNames {
            user_id: "user_id".into(),
            birth_date: "birth_date".into(),
            country: "country".into(),
        }
    }
}

/// Column names of the objection registry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OptOutColumnNames {
    pub user_id: String,
    pub objected_at: String,
}

impl Default for OptOutColumnNames {
    fn default() -> Self {
        OptOutColumnNames {
            user_id: "user_id".into(),
            objected_at: "objected_at".into(),
        }
    }
}

/// Column names of the consent registry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsentColumnNames {
    pub user_id: String,
    pub consented_at: String,
    pub withdrawn_at: String,
}

impl Default for ConsentColumnNames {
    fn default() -> Self {
        ConsentColumnNames {
            user_id: "user_id".into(),
            consented_at: "consented_at".into(),
            withdrawn_at: "withdrawn_at".into(),
        }
    }
}

/// The `[columns]` table: every column name can be remapped.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ColumnNames {
    pub posts: PostColumnNames,
    pub accounts: AccountColumnNames,
    pub optouts: OptOutColumnNames,
    pub consents: ConsentColumnNames,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_policy_table_gives_the_default_policy() {
        let cfg: PolicyConfig = toml::from_str("").expect("parses");
        assert_eq!(cfg, PolicyConfig::default());
        let p = Policy::resolve(&cfg).expect("valid");
        assert_eq!(p.min_age_years, 18);
        assert!(p.private_kinds.contains("private_message"));
        assert!(p.is_excluded_surface("whatsapp", "ai_interaction"));
        assert!(!p.is_excluded_surface("facebook", "ai_interaction"));
    }

    #[test]
    fn unknown_policy_key_is_rejected() {
        let err = toml::from_str::<PolicyConfig>("min_age = 18").expect_err("unknown key");
        assert!(err.to_string().contains("unknown field `min_age`"), "{err}");
    }

    #[test]
    fn labels_match_trimmed_and_case_insensitively() {
        let p = Policy::resolve(&PolicyConfig::default()).expect("valid");
        assert!(p.private_kinds.contains(" Private_Message"));
        assert!(p.is_excluded_surface("WhatsApp", "AI_interaction "));
        assert!(!p.public_visibilities.contains("publicly"));
    }

    #[test]
    fn label_trim_agrees_with_str_trim() {
        for label in [
            "",
            " ",
            "a",
            " a",
            "a ",
            "\tpublic\n",
            "public",
            "\u{a0}public",
            "public\u{3000}",
            "é",
            "éa",
            "aé",
            "a b",
            "\u{85}",
            "x\u{2028}",
            "~",
        ] {
            assert_eq!(trim_label(label), label.trim(), "{label:?}");
        }
    }

    #[test]
    fn labels_with_unicode_spaces_still_match() {
        let p = Policy::resolve(&PolicyConfig::default()).expect("valid");
        assert!(p.private_kinds.contains("\u{a0}private_message\u{2003}"));
        assert!(p.is_excluded_surface("whatsapp\u{3000}", "\u{a0}ai_interaction"));
    }

    #[test]
    fn invalid_policies_are_rejected() {
        let mut cfg = PolicyConfig {
            min_age_years: 0,
            ..PolicyConfig::default()
        };
        assert_eq!(Policy::resolve(&cfg), Err(PolicyError::MinAge(0)));
        cfg.min_age_years = 18;
        cfg.public_visibilities.clear();
        assert_eq!(Policy::resolve(&cfg), Err(PolicyError::NoPublicVisibility));
        cfg.public_visibilities = vec![" ".into()];
        assert!(matches!(
            Policy::resolve(&cfg),
            Err(PolicyError::EmptyLabel { .. })
        ));
    }

    #[test]
    fn resolved_policy_round_trips_to_config() {
        let p = Policy::resolve(&PolicyConfig::default()).expect("valid");
        assert_eq!(p.to_config(), PolicyConfig::default());
    }
}
