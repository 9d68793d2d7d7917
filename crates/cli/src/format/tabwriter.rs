//! Go's `text/tabwriter` as the docker CLI configures it: cells end at
//! `\t`, each column is as wide as its widest cell plus `padding`, at
//! least `min_width`; the last cell of a line is not padded.

pub struct TabWriter {
    min_width: usize,
    padding: usize,
}

impl TabWriter {
    /// docker's tables: `tabwriter.NewWriter(out, 10, 1, 3, ' ', 0)`.
    pub const TABLE: TabWriter = TabWriter {
        min_width: 10,
        padding: 3,
    };
    /// `docker top`: `tabwriter.NewWriter(out, 20, 1, 3, ' ', 0)`.
    pub const TOP: TabWriter = TabWriter {
        min_width: 20,
        padding: 3,
    };
    /// `docker version`: `tabwriter.NewWriter(out, 20, 1, 1, ' ', 0)`.
    pub const VERSION: TabWriter = TabWriter {
        min_width: 20,
        padding: 1,
    };

    /// Aligns `text`. As Go's, a column block is a run of consecutive
    /// lines that have a cell in that column.
    pub fn format(&self, text: &str) -> String {
        let lines: Vec<Vec<&str>> = text.split('\n').map(|l| l.split('\t').collect()).collect();
        // width[i][c]: the width of column c for line i (0 = last cell).
        let mut widths: Vec<Vec<usize>> = lines.iter().map(|l| vec![0; l.len()]).collect();
        let max_cols = lines.iter().map(Vec::len).max().unwrap_or(0);
        for c in 0..max_cols.saturating_sub(1) {
            let mut i = 0;
            while i < lines.len() {
                if lines[i].len() <= c + 1 {
                    i += 1;
                    continue;
                }
                let start = i;
                let mut w = 0;
                while i < lines.len() && lines[i].len() > c + 1 {
                    w = w.max(lines[i][c].chars().count());
                    i += 1;
                }
                let w = (w + self.padding).max(self.min_width);
                for row in &mut widths[start..i] {
                    row[c] = w;
                }
            }
        }
        let mut out = String::with_capacity(text.len() * 2);
        for (i, l) in lines.iter().enumerate() {
            for (c, cell) in l.iter().enumerate() {
                out.push_str(cell);
                if c + 1 < l.len() {
                    let pad = widths[i][c].saturating_sub(cell.chars().count());
                    out.extend(std::iter::repeat_n(' ', pad));
                }
            }
            if i + 1 < lines.len() {
                out.push('\n');
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligns_like_docker_images() {
        let t = "REPOSITORY\tTAG\tIMAGE ID\tCREATED\tSIZE\nbusybox\tlatest\ta416a98b71e2\t4 weeks ago\t4.26MB\n";
        assert_eq!(
            TabWriter::TABLE.format(t),
            "REPOSITORY   TAG       IMAGE ID       CREATED       SIZE\n\
             busybox      latest    a416a98b71e2   4 weeks ago   4.26MB\n"
        );
    }

    #[test]
    fn version_layout() {
        let t = " Version:\t0.1.0\n API version:\t1.47\n";
        assert_eq!(
            TabWriter::VERSION.format(t),
            " Version:           0.1.0\n API version:       1.47\n"
        );
    }
}
