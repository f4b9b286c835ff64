//! The selector data file (`banners.toml`): which consent tools the audit knows, how their
//! banners and buttons are found, and the button texts in English, German and French. Read
//! once at start; the page-side search is [`FIND_JS`], given the data as JSON.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

const DATA: &str = include_str!("banners.toml");

/// One consent tool's selectors.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BannerKind {
    pub name: String,
    pub containers: Vec<String>,
    pub accept: Vec<String>,
    pub reject: Vec<String>,
    pub settings: Vec<String>,
}

/// The whole data file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Banners {
    pub banner: Vec<BannerKind>,
    /// `accept`, `reject`, `settings` → language → texts.
    pub texts: BTreeMap<String, BTreeMap<String, Vec<String>>>,
}

impl Banners {
    /// The built-in data file, checked: every kind has a container, and every button has
    /// texts in each of the three languages.
    pub fn builtin() -> anyhow::Result<Banners> {
        let b: Banners = toml::from_str(DATA)
            .map_err(|e| anyhow::anyhow!("the audit's banners.toml cannot be read: {e}"))?;
        if let Some(k) = b.banner.iter().find(|k| k.containers.is_empty()) {
            anyhow::bail!("banners.toml: {} has no container selector", k.name);
        }
        for button in ["accept", "reject", "settings"] {
            for lang in ["en", "de", "fr"] {
                let texts = b.texts.get(button).and_then(|t| t.get(lang));
                if texts.is_none_or(|t| t.is_empty()) {
                    anyhow::bail!("banners.toml: no {button} texts in {lang}");
                }
            }
        }
        Ok(b)
    }

    /// The data as the page-side search reads it.
    pub fn to_js(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "null".to_owned())
    }
}

/// Finds the visible banner: `(DATA, wantSettings) => result`. The result names the kind,
/// the container's box, and for each button found its box, text and text contrast; found
/// buttons are marked `data-lm-audit="accept|reject"` for [`CLICK_JS`]. With `wantSettings`
/// it looks for the control that reopens the choices instead, anywhere on the page.
pub const FIND_JS: &str = r#"(DATA, wantSettings) => {
  const norm = s => (s || '').replace(/\s+/g, ' ').trim().toLowerCase();
  const texts = b => Object.values(DATA.texts[b] || {}).flat().map(norm);
  const visible = e => { if (!e || !e.isConnected) return false;
    const s = getComputedStyle(e), r = e.getBoundingClientRect();
    return s.display != 'none' && s.visibility != 'hidden' && +s.opacity > 0 && r.width > 0 && r.height > 0; };
  const q = (root, sels) => { for (const s of sels) { try { for (const e of root.querySelectorAll(s)) if (visible(e)) return e; } catch (x) {} } return null; };
  const clickables = root => [...root.querySelectorAll('button, a, [role=button], input[type=button], input[type=submit]')].filter(visible);
  const byText = (root, b) => { const want = texts(b);
    for (const t of want) { const e = clickables(root).find(e => norm(e.textContent || e.value) == t); if (e) return e; } return null; };
  const box = e => { const r = e.getBoundingClientRect(); return {x: r.x, y: r.y, width: r.width, height: r.height}; };
  const rgba = c => { const m = (c || '').match(/[0-9.]+/g) || [0, 0, 0, 0]; return m.length < 4 ? [+m[0], +m[1], +m[2], 1] : m.map(Number); };
  const lum = ([r, g, b]) => { const f = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b); };
  const background = e => { for (let n = e; n && n.nodeType == 1; n = n.parentElement) {
      const c = rgba(getComputedStyle(n).backgroundColor); if (c[3] > 0) return c; } return [255, 255, 255, 1]; };
  const contrast = e => { const bg = background(e), fg = rgba(getComputedStyle(e).color), a = fg[3];
    const mixed = [0, 1, 2].map(i => fg[i] * a + bg[i] * (1 - a));
    const [hi, lo] = [lum(mixed), lum(bg)].sort((x, y) => y - x);
    return Math.round((hi + 0.05) / (lo + 0.05) * 100) / 100; };
  const describe = e => e ? {text: norm(e.textContent || e.value).slice(0, 80), box: box(e), contrast: contrast(e)} : null;
  if (wantSettings) {
    for (const k of DATA.banner) { const e = q(document, k.settings); if (e) { e.setAttribute('data-lm-audit', 'settings'); return {kind: k.name, settings: describe(e)}; } }
    const e = byText(document, 'settings');
    if (e) { e.setAttribute('data-lm-audit', 'settings'); return {kind: 'text', settings: describe(e)}; }
    return null;
  }
  for (const k of DATA.banner) {
    for (const sel of k.containers) {
      let found = [];
      try { found = [...document.querySelectorAll(sel)].filter(visible); } catch (x) {}
      for (const c of found) {
        const accept = q(c, k.accept) || byText(c, 'accept'), reject = q(c, k.reject) || byText(c, 'reject');
        // A generic match is a banner only when it offers a choice.
        if (k.name == 'generic' && !accept && !reject) continue;
        document.querySelectorAll('[data-lm-audit]').forEach(e => e.removeAttribute('data-lm-audit'));
        if (accept) accept.setAttribute('data-lm-audit', 'accept');
        if (reject) reject.setAttribute('data-lm-audit', 'reject');
        return {kind: k.name, selector: sel, box: box(c), accept: describe(accept), reject: describe(reject)};
      }
    }
  }
  return null;
}"#;

/// Clicks the button [`FIND_JS`] marked: `(which) => bool`.
pub const CLICK_JS: &str = r#"(which) => { const e = document.querySelector('[data-lm-audit="' + which + '"]');
  if (!e) return false; e.scrollIntoView({block: 'center'}); e.click(); return true; }"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_data_file_reads_and_names_the_four_tools() {
        let b = Banners::builtin().unwrap();
        let names: Vec<&str> = b.banner.iter().map(|k| k.name.as_str()).collect();
        for tool in ["leadsment", "cookiebot", "onetrust", "klaro"] {
            assert!(names.contains(&tool), "{names:?}");
        }
        assert_eq!(names.last(), Some(&"generic"));
        assert!(b.texts["reject"]["de"].contains(&"alle ablehnen".to_owned()));
        assert!(b.to_js().starts_with('{'));
    }
}
