//go:build race

package block

// raceBuild is true under -race, which makes the size sweep about ten
// times slower: it runs the reduced sweep there.
const raceBuild = true
