package store

// CountSearchSteps has the counts with q from now on price an index entry
// at share of a walked row (countSearch's entryShare; 0 keeps it) and
// report each step they take to step (0: a search's page counted apart,
// searchCounted), until restore is called.
func CountSearchSteps(share float64, step func(int)) (restore func()) {
	oldShare, oldStep := entryShare, countStep
	if share == 0 {
		share = entryShare
	}
	entryShare, countStep = share, step
	return func() { entryShare, countStep = oldShare, oldStep }
}

// SearchSteps reports each step after the first that the searches from
// now on take (2: the gathering, 3: the filtered walk) to step, until
// restore is called.
func SearchSteps(step func(int)) (restore func()) {
	old := searchStep
	searchStep = step
	return func() { searchStep = old }
}
