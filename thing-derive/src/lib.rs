use proc_macro::TokenStream; #[proc_macro_derive(Thing, attributes(thing))] pub fn derive(_i: TokenStream) -> TokenStream { TokenStream::new() }
