import Hummingbird
import NIOCore

/// The OpenAPI document of the API (`openapi.yaml` beside this file, the single source),
/// embedded at build time and served as `GET /openapi.yaml`.
public enum OpenAPIDocument {
    public static let path = "/openapi.yaml"

    public static var bytes: [UInt8] { PackageResources.openapi_yaml }

    static func response() -> Response {
        Response(status: .ok, headers: [.contentType: "application/yaml"], body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}
