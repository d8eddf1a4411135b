//! bgpctl: the control client of bgp-daemon. The control socket arrives with the
//! session work; until then the binary only reports its version.

fn main() {
    let arg = std::env::args().nth(1);
    match arg.as_deref() {
        Some("--version") | Some("-V") => println!("bgpctl {}", env!("CARGO_PKG_VERSION")),
        _ => {
            eprintln!("bgpctl {}: the control socket is not implemented yet", env!("CARGO_PKG_VERSION"));
            std::process::exit(2);
        }
    }
}
