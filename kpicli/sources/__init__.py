"""Reading exports: one kind of export in, one clean LazyFrame out."""
