//! Man pages, generated from the clap definition: `git-agent.1` and one page per subcommand
//! (`git-agent-add.1`, ...), as `git help agent` and `man git-agent-add` expect them. Each
//! ends with the EXIT STATUS table.

/// Every page as (file name, roff text), in a stable order.
pub fn pages() -> Vec<(String, Vec<u8>)> {
    let mut cmd = crate::cli::command().disable_help_subcommand(true);
    cmd.build();
    let mut out = Vec::new();
    collect(&cmd, &mut out);
    out
}

fn collect(cmd: &clap::Command, out: &mut Vec<(String, Vec<u8>)>) {
    let man = clap_mangen::Man::new(cmd.clone()).manual("git-agent manual");
    let mut text = Vec::new();
    // The sections clap_mangen renders, but the exit statuses as a table of their own
    // instead of its EXTRA section, which runs the long help's lines together. Rendering
    // into memory cannot fail.
    let _ = man.render_title(&mut text);
    let _ = man.render_name_section(&mut text);
    let _ = man.render_synopsis_section(&mut text);
    let _ = man.render_description_section(&mut text);
    if cmd.get_arguments().any(|a| !a.is_hide_set()) {
        let _ = man.render_options_section(&mut text);
    }
    if cmd.get_subcommands().any(|s| !s.is_hide_set()) {
        let _ = man.render_subcommands_section(&mut text);
    }
    text.extend_from_slice(exit_status_section().as_bytes());
    if cmd.get_version().is_some() {
        let _ = man.render_version_section(&mut text);
    }
    out.push((man.get_filename(), text));
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        collect(sub, out);
    }
}

/// `.SH "EXIT STATUS"` with one tagged paragraph per status.
fn exit_status_section() -> String {
    let mut roff = String::from(".SH \"EXIT STATUS\"\n");
    for (code, kind, meaning) in crate::error::EXIT_STATUSES {
        let label = if kind.is_empty() {
            String::new()
        } else {
            format!(" ({kind})")
        };
        roff.push_str(&format!(
            ".TP\n\\fB{code}\\fR{label}\n{}\n",
            escape(meaning)
        ));
    }
    roff.push_str(&format!(".PP\n{}\n", escape(crate::error::EXIT_NOTES)));
    roff
}

/// Text safe on a roff line: backslashes doubled, a leading dot or quote guarded, dashes
/// kept as typed.
fn escape(text: &str) -> String {
    let text = text.replace('\\', "\\e").replace('-', "\\-");
    if text.starts_with(['.', '\'']) {
        format!("\\&{text}")
    } else {
        text
    }
}
