//! Fitting the table to the terminal's width, in the order `table` documents: cap the task,
//! cut paths in the middle, drop columns, and give back what a later step left over.

use super::fit::{self, width};
use super::table::{Cell, Col, Style};

/// One way to make the table narrower.
enum Step {
    Cap(Col, usize),
    Drop(Col),
    Squeeze,
}

/// Makes every line at most `limit` columns wide, in the order the module documents.
pub(super) fn fit_to(limit: usize, cols: &mut Vec<Col>, grid: &mut [Vec<Cell>], style: &Style) {
    use Step::*;
    let steps = [
        Cap(Col::Task, 40),
        Cap(Col::Path, 24),
        Drop(Col::Path),
        Drop(Col::Database),
        Drop(Col::Ports),
        Cap(Col::Task, 20),
        Drop(Col::Branch),
        Drop(Col::Active),
        Cap(Col::Task, 8),
        Squeeze,
    ];
    let mut originals: Vec<Vec<String>> = grid
        .iter()
        .map(|r| r.iter().map(|c| c.text.clone()).collect())
        .collect();
    for step in steps {
        let total = total_width(cols, grid);
        if total <= limit {
            break;
        }
        let excess = total - limit;
        match step {
            Cap(col, floor) => {
                if let Some(c) = cols.iter().position(|x| *x == col) {
                    let now = column_width(grid, c);
                    let target = now
                        .saturating_sub(excess)
                        .max(floor)
                        .max(width(col.header()));
                    cut_column(grid, c, target, col == Col::Path, style);
                }
            }
            Drop(col) => {
                if let Some(c) = cols.iter().position(|x| *x == col) {
                    drop_column(cols, grid, &mut originals, c);
                }
            }
            Squeeze => {
                // What is left shares the room: the widest column is cut first, down to 6.
                for _ in 0..64 {
                    let total = total_width(cols, grid);
                    if total <= limit {
                        break;
                    }
                    let widest = (0..cols.len()).max_by_key(|c| column_width(grid, *c));
                    let Some(c) = widest else { break };
                    let now = column_width(grid, c);
                    if now <= 6 {
                        break;
                    }
                    let target = now.saturating_sub(total - limit).max(6);
                    cut_column(grid, c, target, false, style);
                }
                // Still too wide (a tiny terminal): the columns on the right go, then the
                // last one left is cut.
                while total_width(cols, grid) > limit && cols.len() > 1 {
                    let last = cols.len() - 1;
                    drop_column(cols, grid, &mut originals, last);
                }
                if total_width(cols, grid) > limit {
                    cut_column(grid, 0, limit, false, style);
                }
            }
        }
    }
    give_back(limit, cols, grid, &originals, style);
}

/// Room a later step left over goes back to the columns cut before it, the task first.
fn give_back(
    limit: usize,
    cols: &[Col],
    grid: &mut [Vec<Cell>],
    originals: &[Vec<String>],
    style: &Style,
) {
    for col in [Col::Task, Col::Path, Col::Servers, Col::Agent, Col::Slot] {
        let total = total_width(cols, grid);
        let Some(c) = cols.iter().position(|x| *x == col) else {
            continue;
        };
        let now = column_width(grid, c);
        let natural = originals.iter().map(|r| width(&r[c])).max().unwrap_or(0);
        if total >= limit || now >= natural {
            continue;
        }
        let target = natural.min(now + (limit - total));
        for (row, original) in grid.iter_mut().zip(originals) {
            row[c].text = if col == Col::Path {
                fit::cut_middle(&original[c], target, style.ellipsis())
            } else {
                fit::cut_end(&original[c], target, style.ellipsis())
            };
        }
    }
}

fn drop_column(
    cols: &mut Vec<Col>,
    grid: &mut [Vec<Cell>],
    originals: &mut [Vec<String>],
    c: usize,
) {
    cols.remove(c);
    for row in grid.iter_mut() {
        row.remove(c);
    }
    for row in originals.iter_mut() {
        row.remove(c);
    }
}

fn column_width(grid: &[Vec<Cell>], c: usize) -> usize {
    grid.iter().map(|r| width(&r[c].text)).max().unwrap_or(0)
}

fn total_width(cols: &[Col], grid: &[Vec<Cell>]) -> usize {
    let sum: usize = (0..cols.len()).map(|c| column_width(grid, c)).sum();
    sum + 2 * cols.len().saturating_sub(1)
}

fn cut_column(grid: &mut [Vec<Cell>], c: usize, target: usize, middle: bool, style: &Style) {
    for row in grid.iter_mut() {
        let text = &row[c].text;
        row[c].text = if middle {
            fit::cut_middle(text, target, style.ellipsis())
        } else {
            fit::cut_end(text, target, style.ellipsis())
        };
    }
}
