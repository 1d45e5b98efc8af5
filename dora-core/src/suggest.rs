//! "Did you mean" suggestions for misspelt keys, values and names.

/// The candidate closest to `word`, if one is close enough to be a likely
/// misspelling (same letters in another case, or at most about a third of
/// the letters changed).
///
/// ```
/// use dora_core::suggest::did_you_mean;
///
/// assert_eq!(did_you_mean("inptus", ["inputs", "outputs"]), Some("inputs"));
/// assert_eq!(did_you_mean("colour", ["inputs", "outputs"]), None);
/// ```
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let lower = word.to_lowercase();
    candidates
        .into_iter()
        .map(|candidate| {
            let distance = strsim::damerau_levenshtein(&lower, &candidate.to_lowercase());
            (distance, candidate)
        })
        .filter(|(distance, candidate)| {
            let longest = word.chars().count().max(candidate.chars().count());
            *distance <= (longest / 3).max(1)
        })
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}
