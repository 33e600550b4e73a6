// gRPC server reflection (grpc.reflection.v1.ServerReflection), so that grpcurl, `buf curl` and grpcui can call
// the service without its .proto files. It answers from the descriptors protoc-gen-es compiled into the generated
// code (src/grpc/gen), so what it describes is exactly what the server speaks. @grpc/reflection, the maintained
// implementation, serves grpc-js servers from proto-loader definitions; Connect has none (connect-es issue 507).
import { createRegistry, toBinary, type DescFile, type MessageInitShape } from '@bufbuild/protobuf';
import { FileDescriptorProtoSchema } from '@bufbuild/protobuf/wkt';
import { Code, type ServiceImpl } from '@connectrpc/connect';
import type { ServerReflection, ServerReflectionRequest, ServerReflectionResponseSchema } from './gen/grpc/reflection/v1/reflection_pb.js';

type Answer = NonNullable<MessageInitShape<typeof ServerReflectionResponseSchema>['messageResponse']>;

/** `files`: the files of the services served; their imports are found from them. */
export function serverReflection(files: DescFile[]): ServiceImpl<typeof ServerReflection> {
  const byName = new Map<string, DescFile>();
  const add = (file: DescFile): void => {
    // file.name has no `.proto` suffix; the descriptor's name is the path clients ask for.
    if (byName.has(file.proto.name)) return;
    byName.set(file.proto.name, file);
    file.dependencies.forEach(add);
  };
  files.forEach(add);
  const registry = createRegistry(...byName.values());
  const services = files.flatMap((file) => file.services.map((service) => ({ name: service.typeName })));

  /** A file and everything it imports, each once, as serialized FileDescriptorProtos. */
  const withImports = (file: DescFile): Answer => {
    const seen = new Set<DescFile>();
    const walk = (f: DescFile): void => {
      if (seen.has(f)) return;
      seen.add(f);
      f.dependencies.forEach(walk);
    };
    walk(file);
    const fileDescriptorProto = [...seen].map((f) => toBinary(FileDescriptorProtoSchema, f.proto));
    return { case: 'fileDescriptorResponse', value: { fileDescriptorProto } };
  };
  const notFound = (what: string): Answer => ({ case: 'errorResponse', value: { errorCode: Code.NotFound, errorMessage: `${what} not found` } });

  /** The file that declares a symbol: a type or service, or a method, field or enum value inside one. */
  const fileOfSymbol = (symbol: string): DescFile | undefined => {
    for (let name = symbol; name !== ''; name = name.slice(0, Math.max(0, name.lastIndexOf('.')))) {
      const desc = registry.get(name);
      if (desc) return desc.file;
    }
    return undefined;
  };

  const answer = ({ messageRequest: ask }: ServerReflectionRequest): Answer => {
    switch (ask.case) {
      case 'listServices':
        return { case: 'listServicesResponse', value: { service: services } };
      case 'fileByFilename': {
        const file = byName.get(ask.value);
        return file ? withImports(file) : notFound(`file ${ask.value}`);
      }
      case 'fileContainingSymbol': {
        const file = fileOfSymbol(ask.value);
        return file ? withImports(file) : notFound(`symbol ${ask.value}`);
      }
      case 'allExtensionNumbersOfType':
        // None of the served messages declares extension ranges.
        return registry.getMessage(ask.value)
          ? { case: 'allExtensionNumbersResponse', value: { baseTypeName: ask.value, extensionNumber: [] } }
          : notFound(`type ${ask.value}`);
      case 'fileContainingExtension':
        return notFound(`extension ${ask.value.extensionNumber} of ${ask.value.containingType}`);
      default:
        return { case: 'errorResponse', value: { errorCode: Code.InvalidArgument, errorMessage: 'unknown reflection request' } };
    }
  };

  return {
    async *serverReflectionInfo(requests) {
      for await (const request of requests) {
        yield { validHost: request.host, originalRequest: request, messageResponse: answer(request) };
      }
    },
  };
}
