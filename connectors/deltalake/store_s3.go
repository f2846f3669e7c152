package deltalake

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// s3Store is a table in an S3-compatible bucket. A commit is a PutObject
// with If-None-Match: "*", which the server must honour (checked by
// probe at start).
type s3Store struct {
	client *s3.Client
	bucket string
	prefix string
}

func newS3Store(ctx context.Context, bucket, prefix string, cfg S3) (*s3Store, error) {
	opts := []func(*awsconfig.LoadOptions) error{awsconfig.WithRegion(cfg.Region)}
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("s3 configuration: %w", err)
	}
	client := s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
		o.UsePathStyle = cfg.PathStyle
		// S3-compatible servers differ in their support of the newer
		// checksum headers; send and check them only when required.
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
	})
	return &s3Store{client: client, bucket: bucket, prefix: prefix}, nil
}

func (s *s3Store) String() string { return "s3://" + s.bucket + "/" + s.prefix }

func (s *s3Store) key(p string) string {
	if s.prefix == "" {
		return p
	}
	return s.prefix + "/" + p
}

func (s *s3Store) Get(ctx context.Context, p string) ([]byte, error) {
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.bucket, Key: aws.String(s.key(p))})
	if err != nil {
		var nsk *types.NoSuchKey
		if errors.As(err, &nsk) || httpStatus(err) == http.StatusNotFound {
			return nil, errNotFound
		}
		return nil, err
	}
	defer out.Body.Close()
	return io.ReadAll(out.Body)
}

func (s *s3Store) Put(ctx context.Context, p string, data []byte) error {
	_, err := s.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: &s.bucket, Key: aws.String(s.key(p)), Body: bytes.NewReader(data), ContentLength: aws.Int64(int64(len(data))),
	})
	return err
}

func (s *s3Store) Create(ctx context.Context, p string, data []byte) error {
	return s.Put(ctx, p, data)
}

func (s *s3Store) PutIfAbsent(ctx context.Context, p string, data []byte) error {
	_, err := s.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: &s.bucket, Key: aws.String(s.key(p)), Body: bytes.NewReader(data), ContentLength: aws.Int64(int64(len(data))),
		IfNoneMatch: aws.String("*"),
	})
	if err == nil {
		return nil
	}
	// 412: the object exists. 409: a concurrent conditional write of the
	// same key is in progress; either way another writer took the version.
	if st := httpStatus(err); st == http.StatusPreconditionFailed || st == http.StatusConflict {
		return errExists
	}
	var ae smithy.APIError
	if errors.As(err, &ae) && (ae.ErrorCode() == "PreconditionFailed" || ae.ErrorCode() == "ConditionalRequestConflict") {
		return errExists
	}
	return err
}

func (s *s3Store) List(ctx context.Context, dir, from string) ([]string, error) {
	prefix := s.key(dir) + "/"
	in := &s3.ListObjectsV2Input{Bucket: &s.bucket, Prefix: aws.String(prefix)}
	if from != "" {
		in.StartAfter = aws.String(prefix + from)
	}
	var out []string
	p := s3.NewListObjectsV2Paginator(s.client, in)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, o := range page.Contents {
			name := strings.TrimPrefix(aws.ToString(o.Key), prefix)
			if name != "" && !strings.Contains(name, "/") && name >= from {
				out = append(out, name)
			}
		}
	}
	// StartAfter excludes from itself; fetch it when it exists.
	if from != "" {
		if _, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.bucket, Key: aws.String(prefix + from)}); err == nil {
			out = append([]string{from}, out...)
		}
	}
	return out, nil
}

func (s *s3Store) Delete(ctx context.Context, p string) error {
	_, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.bucket, Key: aws.String(s.key(p))})
	if httpStatus(err) == http.StatusNotFound {
		return nil
	}
	return err
}

// probeConditionalPut checks that the server refuses to overwrite an
// object written with If-None-Match: "*"; a server that ignores the header
// would let two writers commit the same version and lose data.
func (s *s3Store) probeConditionalPut(ctx context.Context) error {
	p := path.Join("_delta_log", ".danube-connect-probe-"+newUUID())
	if err := s.PutIfAbsent(ctx, p, []byte("1")); err != nil {
		return fmt.Errorf("probe conditional put on %s: %w", s, err)
	}
	defer func() { _ = s.Delete(context.WithoutCancel(ctx), p) }()
	err := s.PutIfAbsent(ctx, p, []byte("2"))
	switch {
	case errors.Is(err, errExists):
		return nil
	case err == nil:
		return errConditionalPutIgnored
	}
	return fmt.Errorf("probe conditional put on %s: %w", s, err)
}

var errConditionalPutIgnored = errors.New("the S3 server ignores If-None-Match on PutObject (it overwrote an existing object), so commits cannot be made atomic")

func httpStatus(err error) int {
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}
