package timesheets

// LargeUploadsInFlight counts the large-upload slots taken, for tests that
// wait for one to be held.
func (a *API) LargeUploadsInFlight() int {
	slots := a.largeSlots()
	return cap(slots) - len(slots)
}

// SplitArray is splitArray, for its fuzz test.
var SplitArray = splitArray
