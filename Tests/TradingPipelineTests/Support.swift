import HybridTestSupport

let logger = TestDatabase.logger
