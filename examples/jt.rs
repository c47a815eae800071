fn main() {
    let j = zhengce::corpus::words::jieba();
    for s in std::env::args().skip(1) {
        let t: Vec<&str> = j.cut(&s, false).iter().map(|t| t.word).collect();
        println!("{}", t.join("/"));
    }
}
