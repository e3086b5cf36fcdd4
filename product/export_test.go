package product

// DecodeYAML reads data as YAML whatever its first character, as Decode
// reads a document that does not start with '{' or '['. JSON is YAML
// 1.2, so it lets FuzzJSONYAMLAgree read one document both ways.
func DecodeYAML(data []byte) (*Document, error) {
	doc := new(Document)
	sh, err := decodeYAML(data, doc)
	if err != nil {
		return nil, err
	}
	doc.Shorthands = sh
	return doc, nil
}
