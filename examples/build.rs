//! Rebuilds chat-server when the web page's files change (rust-embed embeds
//! what `web/` holds at build time; a new file must be seen too).

fn main() {
    println!("cargo:rerun-if-changed=web");
}
