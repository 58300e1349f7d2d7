package archive

// Manifest describes an individual archive's files, as OpenTok's
// archive.json does: it is stored with them, as ManifestName.
type Manifest struct {
	ID        string `json:"id"`
	SessionID string `json:"sessionId"`
	Name      string `json:"name"`
	CreatedAt int64  `json:"createdAt"` // ms since the epoch
	Files     []File `json:"files"`
}

// ManifestName is the name of an individual archive's manifest file.
const ManifestName = "archive.json"

// File is one stream's file in an individual archive.
type File struct {
	StreamID       string `json:"streamId"`
	ConnectionData string `json:"connectionData"`
	Filename       string `json:"filename"`
	Size           int64  `json:"size"`
	// StartTimeOffset and StopTimeOffset are when the file starts and
	// ends, in ms from the archive's start.
	StartTimeOffset int64 `json:"startTimeOffset"`
	StopTimeOffset  int64 `json:"stopTimeOffset"`
}
