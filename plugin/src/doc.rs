//! The troubleshooting guide (`docs/troubleshooting.md`), embedded at build time and parsed into
//! sections and tables, so `why` quotes the fix the guide gives for a reason instead of a copy
//! kept in code.
//!
//! Data flow: [`TROUBLESHOOTING`] (the Markdown text) → [`Doc::parse`] → [`Doc`]: one
//! [`Section`] per heading with the tables under it. Each `## Condition `X`` section holds a
//! table keyed by `reason` (columns reason, status, meaning, fix); some sections also hold
//! tables keyed by `error` text (agent errors) or have `###` subsections keyed by `category`
//! (cloud error categories). [`Doc::reason`] and [`Doc::details`] answer lookups; `why` renders
//! the answers.

use std::sync::OnceLock;

/// The troubleshooting guide, as committed.
pub const TROUBLESHOOTING: &str = include_str!("../../docs/troubleshooting.md");

/// Where the guide lives in the repository, for references printed next to a fix.
pub const DOC_PATH: &str = "docs/troubleshooting.md";

/// The parsed guide.
#[derive(Clone, Debug, Default)]
pub struct Doc {
    /// Every heading with what follows it, in document order.
    pub sections: Vec<Section>,
}

/// One heading and the tables under it, up to the next heading.
#[derive(Clone, Debug, Default)]
pub struct Section {
    /// Heading level (`##` is 2).
    pub level: usize,
    /// Heading text as written.
    pub title: String,
    /// GitHub-style anchor of the heading (`condition-leaderconfirmed`).
    pub anchor: String,
    /// For `## Condition `X`` headings, and the subsections under one: `X`.
    pub condition: Option<String>,
    /// The tables of the section, in order.
    pub tables: Vec<Table>,
}

/// A Markdown table.
#[derive(Clone, Debug, Default)]
pub struct Table {
    /// Header cells, lowercased.
    pub header: Vec<String>,
    /// Body rows, cells as written (Markdown).
    pub rows: Vec<Vec<String>>,
}

/// One row of a table: its keys (the backticked names of its first cell) and its cells by column
/// name.
#[derive(Clone, Copy, Debug)]
pub struct Row<'a> {
    table: &'a Table,
    cells: &'a [String],
}

/// A documented reason: the row of a condition's reason table.
#[derive(Clone, Copy, Debug)]
pub struct ReasonEntry<'a> {
    /// The section the row is in.
    pub section: &'a Section,
    /// The row.
    pub row: Row<'a>,
}

/// What the guide adds for one message beyond its reason's row: a row of an agent-error table
/// whose text the message quotes, or of a cloud's error-category table whose `(category)` the
/// message carries.
#[derive(Clone, Copy, Debug)]
pub struct Detail<'a> {
    /// Title of the section holding the table (`OCI error categories`, or the condition's).
    pub section: &'a Section,
    /// The key that matched (`throttled`, an error text).
    pub key: &'a str,
    /// The row.
    pub row: Row<'a>,
}

impl Doc {
    /// The embedded guide, parsed once.
    pub fn embedded() -> &'static Doc {
        static DOC: OnceLock<Doc> = OnceLock::new();
        DOC.get_or_init(|| Doc::parse(TROUBLESHOOTING))
    }

    /// Parses Markdown into sections and tables. Text outside tables is not kept.
    pub fn parse(md: &str) -> Doc {
        let mut sections: Vec<Section> = vec![Section::default()];
        let mut table: Option<Table> = None;
        let mut in_fence = false;
        let mut current_condition: Option<(usize, String)> = None;
        for line in md.lines() {
            let t = line.trim_end();
            if t.trim_start().starts_with("```") {
                in_fence = !in_fence;
                continue;
            }
            if in_fence {
                continue;
            }
            let is_row = t.starts_with('|');
            if !is_row {
                if let (Some(tb), Some(s)) = (table.take(), sections.last_mut()) {
                    s.tables.push(tb);
                }
            }
            if let Some((level, title)) = heading(t) {
                let own = condition_of_title(title);
                current_condition = match (own, current_condition.take()) {
                    (Some(c), _) => Some((level, c)),
                    (None, Some((l, c))) if level > l => Some((l, c)),
                    (None, _) => None,
                };
                sections.push(Section {
                    level,
                    title: title.to_string(),
                    anchor: anchor(title),
                    condition: current_condition.as_ref().map(|(_, c)| c.clone()),
                    tables: vec![],
                });
                continue;
            }
            if is_row {
                let cells = split_row(t);
                match table.as_mut() {
                    None => {
                        table = Some(Table {
                            header: cells.iter().map(|c| c.to_lowercase()).collect(),
                            rows: vec![],
                        })
                    }
                    Some(_) if is_separator(&cells) => {}
                    Some(tb) => tb.rows.push(cells),
                }
            }
        }
        if let (Some(tb), Some(s)) = (table.take(), sections.last_mut()) {
            s.tables.push(tb);
        }
        Doc { sections }
    }

    /// The `## Condition `<condition>`` section, if the guide has one.
    pub fn condition_section(&self, condition: &str) -> Option<&Section> {
        self.sections
            .iter()
            .find(|s| s.level == 2 && condition_of_title(&s.title).as_deref() == Some(condition))
    }

    /// The row for `reason` in condition `condition`'s reason table.
    pub fn reason(&self, condition: &str, reason: &str) -> Option<ReasonEntry<'_>> {
        let section = self.condition_section(condition)?;
        section
            .tables
            .iter()
            .filter(|t| t.kind() == Some("reason"))
            .flat_map(Table::row_refs)
            .find(|r| r.keys().any(|k| k == reason))
            .map(|row| ReasonEntry { section, row })
    }

    /// The first row for `reason` in any condition's reason table (for reasons reported on a
    /// condition type the guide does not list them under).
    pub fn reason_anywhere(&self, reason: &str) -> Option<ReasonEntry<'_>> {
        self.sections
            .iter()
            .filter(|s| s.level == 2 && s.condition.is_some())
            .find_map(|s| s.condition.as_deref().and_then(|c| self.reason(c, reason)))
    }

    /// Rows of the condition's other tables that `message` matches: agent errors the message
    /// quotes, and, in its subsections, error categories it carries as `(category)`. A
    /// subsection titled after a cloud other than `provider` (`oci`, `aws`) is skipped.
    pub fn details<'a>(
        &'a self,
        condition: &str,
        message: &'a str,
        provider: Option<&str>,
    ) -> Vec<Detail<'a>> {
        let mut out = vec![];
        for section in self
            .sections
            .iter()
            .filter(|s| s.condition.as_deref() == Some(condition))
        {
            if section.level > 2 && !for_provider(&section.title, provider) {
                continue;
            }
            for table in &section.tables {
                let kind = table.kind();
                for row in table.row_refs() {
                    let hit = row.keys().find(|k| match kind {
                        Some("error") => quotes(message, k),
                        Some("category") => message.contains(&format!("({k})")),
                        _ => false,
                    });
                    if let Some(key) = hit {
                        out.push(Detail { section, key, row });
                    }
                }
            }
        }
        out
    }
}

impl Table {
    /// What the first column names (`reason`, `error`, `category`, …).
    pub fn kind(&self) -> Option<&str> {
        self.header.first().map(String::as_str)
    }

    fn row_refs(&self) -> impl Iterator<Item = Row<'_>> {
        self.rows
            .iter()
            .map(move |cells| Row { table: self, cells })
    }
}

impl<'a> Row<'a> {
    /// The backticked names of the first cell (`` `timeout` / `transport` `` has two).
    pub fn keys(&self) -> impl Iterator<Item = &'a str> {
        let first = self.cells.first().map(String::as_str).unwrap_or("");
        first.split('`').skip(1).step_by(2)
    }

    /// The cell of column `name` (lowercase header text), as written.
    pub fn cell(&self, name: &str) -> Option<&'a str> {
        let i = self.table.header.iter().position(|h| h == name)?;
        self.cells.get(i).map(String::as_str)
    }

    /// What the row's table is keyed by (`reason`, `error`, `category`).
    pub fn table_kind(&self) -> Option<&'a str> {
        self.table.kind()
    }

    /// The `fix` column rendered for a terminal; `None` when it is empty or `—`.
    pub fn fix(&self) -> Option<String> {
        self.cell("fix")
            .map(plain)
            .filter(|f| !f.is_empty() && f != "—")
    }
}

impl ReasonEntry<'_> {
    /// Where the row is, as `docs/troubleshooting.md#<anchor>`.
    pub fn reference(&self) -> String {
        format!("{DOC_PATH}#{}", self.section.anchor)
    }
}

/// A Markdown cell as terminal text: `**` dropped, links as `text (target)` with targets inside
/// the guide or next to it made repository paths.
pub fn plain(md: &str) -> String {
    let s = md.replace("**", "");
    let mut out = String::with_capacity(s.len());
    let mut rest = s.as_str();
    while let Some(open) = rest.find('[') {
        let (before, after) = rest.split_at(open);
        out.push_str(before);
        let link = after.find("](").and_then(|mid| {
            let close = after[mid..].find(')')? + mid;
            Some((&after[1..mid], &after[mid + 2..close], close))
        });
        match link {
            Some((text, target, close)) => {
                out.push_str(&format!("{text} ({})", link_target(target)));
                rest = &after[close + 1..];
            }
            None => {
                out.push('[');
                rest = &after[1..];
            }
        }
    }
    out.push_str(rest);
    out.trim().to_string()
}

fn link_target(target: &str) -> String {
    if target.starts_with('#') {
        format!("{DOC_PATH}{target}")
    } else if target.contains("://") {
        target.to_string()
    } else {
        format!("docs/{target}")
    }
}

/// Whether `message` quotes the error text `pattern` (placeholders `<…>` and `…` stand for
/// anything): true when it contains the pattern's longest literal piece.
fn quotes(message: &str, pattern: &str) -> bool {
    let mut pieces = vec![];
    let mut piece = String::new();
    let mut depth = 0;
    for ch in pattern.chars() {
        match ch {
            '<' => {
                depth += 1;
                pieces.push(std::mem::take(&mut piece));
            }
            '>' if depth > 0 => depth -= 1,
            '…' => pieces.push(std::mem::take(&mut piece)),
            _ if depth == 0 => piece.push(ch),
            _ => {}
        }
    }
    pieces.push(piece);
    pieces
        .iter()
        .map(|p| p.trim())
        .max_by_key(|p| p.len())
        .is_some_and(|p| p.len() >= 6 && message.contains(p))
}

/// False when the title starts with a cloud's name other than `provider`.
fn for_provider(title: &str, provider: Option<&str>) -> bool {
    let first = title.split_whitespace().next().unwrap_or("").to_lowercase();
    match (first.as_str(), provider) {
        ("oci" | "aws", Some(p)) => first == p,
        _ => true,
    }
}

fn heading(line: &str) -> Option<(usize, &str)> {
    let level = line.chars().take_while(|&c| c == '#').count();
    let title = line.get(level..)?.strip_prefix(' ')?;
    (level > 0).then_some((level, title.trim()))
}

/// `X` of a heading ``Condition `X` ``.
fn condition_of_title(title: &str) -> Option<String> {
    let name = title.strip_prefix("Condition `")?.strip_suffix('`')?;
    Some(name.to_string())
}

/// GitHub's heading anchor: lowercase, spaces to `-`, punctuation other than `-`/`_` dropped.
pub fn anchor(title: &str) -> String {
    title
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// The cells of a table row; `|` inside backticks or escaped as `\|` does not split.
fn split_row(line: &str) -> Vec<String> {
    let inner = line.trim().trim_start_matches('|');
    let inner = inner.strip_suffix('|').unwrap_or(inner);
    let mut cells = vec![];
    let mut cell = String::new();
    let mut code = false;
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'|') => {
                cell.push('|');
                chars.next();
            }
            '`' => {
                code = !code;
                cell.push(c);
            }
            '|' if !code => cells.push(std::mem::take(&mut cell).trim().to_string()),
            _ => cell.push(c),
        }
    }
    cells.push(cell.trim().to_string());
    cells
}

fn is_separator(cells: &[String]) -> bool {
    cells
        .iter()
        .all(|c| !c.is_empty() && c.chars().all(|ch| matches!(ch, '-' | ':' | ' ')))
}

#[cfg(test)]
mod tests;
