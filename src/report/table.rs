//! Aligned text tables for people: a header, right-aligned numbers, a rule.

/// A text table built row by row; numeric-looking cells are right-aligned.
#[derive(Debug, Default)]
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new<S: Into<String>>(header: impl IntoIterator<Item = S>) -> Self {
        Self {
            header: header.into_iter().map(Into::into).collect(),
            rows: Vec::new(),
        }
    }

    pub fn row<S: Into<String>>(&mut self, cells: impl IntoIterator<Item = S>) {
        self.rows.push(cells.into_iter().map(Into::into).collect());
    }

    /// A separator line, drawn before the next row (e.g. before a totals row).
    pub fn rule(&mut self) {
        self.rows.push(Vec::new());
    }

    pub fn render(&self) -> String {
        let ncols = self.header.len();
        let mut widths: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate().take(ncols) {
                widths[i] = widths[i].max(cell.chars().count());
            }
        }
        let total: usize = widths.iter().sum::<usize>() + 2 * ncols.saturating_sub(1);
        let mut out = String::new();
        let line = |cells: &[String], out: &mut String| {
            for (i, w) in widths.iter().enumerate() {
                let cell = cells.get(i).map(String::as_str).unwrap_or("");
                let pad = w - cell.chars().count();
                if i > 0 {
                    out.push_str("  ");
                }
                if looks_numeric(cell) {
                    out.extend(std::iter::repeat_n(' ', pad));
                    out.push_str(cell);
                } else {
                    out.push_str(cell);
                    if i + 1 < ncols {
                        out.extend(std::iter::repeat_n(' ', pad));
                    }
                }
            }
            out.push('\n');
        };
        line(&self.header, &mut out);
        out.push_str(&"-".repeat(total));
        out.push('\n');
        for row in &self.rows {
            if row.is_empty() {
                out.push_str(&"-".repeat(total));
                out.push('\n');
            } else {
                line(row, &mut out);
            }
        }
        out
    }
}

impl Table {
    /// The table in GitHub markdown (numbers right-aligned; rules dropped), for
    /// documents generated from results.
    pub fn render_markdown(&self) -> String {
        let escape = |c: &str| c.replace('|', "\\|");
        let ncols = self.header.len();
        let numeric: Vec<bool> = (0..ncols)
            .map(|i| {
                self.rows
                    .iter()
                    .filter(|r| !r.is_empty())
                    .all(|r| r.get(i).is_some_and(|c| looks_numeric(c)))
            })
            .collect();
        let mut out = format!(
            "| {} |\n",
            self.header
                .iter()
                .map(|h| escape(h))
                .collect::<Vec<_>>()
                .join(" | ")
        );
        let align: Vec<&str> = numeric
            .iter()
            .map(|&n| if n { "---:" } else { "---" })
            .collect();
        out.push_str(&format!("|{}|\n", align.join("|")));
        for row in self.rows.iter().filter(|r| !r.is_empty()) {
            let cells: Vec<String> = (0..ncols)
                .map(|i| escape(row.get(i).map(String::as_str).unwrap_or("")))
                .collect();
            out.push_str(&format!("| {} |\n", cells.join(" | ")));
        }
        out
    }
}

fn looks_numeric(cell: &str) -> bool {
    let first = cell.chars().next();
    matches!(first, Some(c) if c.is_ascii_digit() || c == '-' || c == '+' || c == '.')
        && cell.chars().any(|c| c.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligns_numbers_right_and_text_left() {
        let mut t = Table::new(["name", "count"]);
        t.row(["a", "1,000"]);
        t.row(["longer", "7"]);
        let s = t.render();
        let lines: Vec<&str> = s.lines().collect();
        assert_eq!(lines[0], "name    count");
        assert_eq!(lines[2], "a       1,000");
        assert_eq!(lines[3], "longer      7");
        assert_eq!(
            t.render_markdown(),
            "| name | count |\n|---|---:|\n| a | 1,000 |\n| longer | 7 |\n"
        );
    }
}
