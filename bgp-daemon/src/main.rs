//! bgp-daemon: the BGP speaker and route reflector. Sessions, routing and the control
//! socket are built on `bgp-core` in the issues that follow the codec; until then the
//! binary only reports its version.

fn main() {
    let arg = std::env::args().nth(1);
    match arg.as_deref() {
        Some("--version") | Some("-V") => println!("bgp-daemon {}", env!("CARGO_PKG_VERSION")),
        _ => {
            eprintln!("bgp-daemon {}: BGP sessions are not implemented yet", env!("CARGO_PKG_VERSION"));
            std::process::exit(2);
        }
    }
}
